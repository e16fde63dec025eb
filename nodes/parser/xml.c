/*
 * xml.c - the xml node (Node-RED 70-XML.js): XML text to the object shape
 * xml2js 0.6 produces with Node-RED's settings (attributes under `$`, text
 * under `_`, children always in arrays, the attr/chr node options and the
 * msg.options that Node-RED passes through: explicitArray, mergeAttrs,
 * ignoreAttrs, explicitRoot, explicitCharkey, trim, normalize,
 * normalizeTags, emptyTag, attrkey, charkey), parsed with libxml2's SAX
 * interface; and objects back to XML as xml2js's Builder writes them with
 * xmlbuilder (declaration, `$`/`_`, arrays as repeated elements, escaping,
 * compact or pretty output per msg.options.renderOpts).
 * Parse errors carry libxml2's text, not sax's (see docs/nodes.md).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <edgeflow/edgeflow.h>

#include "../sequence/lib/seq.h"
#include "js.h"
#include "strbuf.h"

struct xmlnode {
    struct seq_prop prop;
    const char *attr, *chr;
};

static const struct ef_prop xml_props[] = {
    {EF_PROP_STR, "property", "\"payload\"", false, "the property to convert", EF_PROP_NOFIELD},
    {EF_PROP_STR, "attr", "\"\"", false, "key for attributes (default $)",
     offsetof(struct xmlnode, attr)},
    {EF_PROP_STR, "chr", "\"\"", false, "key for text content (default _)",
     offsetof(struct xmlnode, chr)},
    {EF_PROP_END},
};

/* ======================================================================
 * XML to objects (xml2js Parser)
 * ====================================================================== */

struct popts {
    const char *attrkey, *charkey;
    bool explicit_array, merge_attrs, ignore_attrs, explicit_root, explicit_charkey;
    bool trim, normalize, normalize_tags;
    const struct ef_val *empty_tag; /* NULL: '' (the whitespace text) */
};

struct pframe {
    struct ef_val *obj;
    char *name;
    struct strbuf text;
    bool cdata;
};

struct pstate {
    const struct popts *o;
    struct pframe *st;
    size_t depth, cap;
    struct ef_val *result;
    bool done;
    char err[300];
};

static bool truthy_opt(const struct ef_val *opts, const char *k, bool dflt)
{
    const struct ef_val *v = ef_val_obj_get(opts, k);
    return v ? ef_val_truthy(v) : dflt;
}

/* assignOrPush() */
static void assign_or_push(const struct popts *o, struct ef_val *obj, const char *key,
                           struct ef_val *v)
{
    struct ef_val **slot = ef_val_obj_slot(obj, key, strlen(key));
    if (!slot) {
        if (o->explicit_array) {
            struct ef_val *a = ef_val_arr();
            ef_val_arr_push_take(a, v);
            v = a;
        }
        if (ef_val_obj_set_take(obj, key, v) != 0) {
            ef_val_unref(v);
        }
        return;
    }
    if (ef_val_type(*slot) != EF_ARR) {
        struct ef_val *a = ef_val_arr();
        ef_val_arr_push_take(a, ef_val_ref(*slot));
        ef_val_obj_set_take(obj, key, a);
        slot = ef_val_obj_slot(obj, key, strlen(key));
    }
    struct ef_val *a = ef_val_mut(slot);
    if (!a || ef_val_arr_push_take(a, v) != 0) {
        ef_val_unref(v);
    }
}

static char *tag_name(const struct popts *o, const xmlChar *name)
{
    char *s = strdup((const char *)name);
    if (s && o->normalize_tags) {
        for (char *p = s; *p; p++) {
            *p = (char)tolower((unsigned char)*p);
        }
    }
    return s;
}

static void on_start(void *ud, const xmlChar *name, const xmlChar **atts)
{
    struct pstate *ps = ud;
    if (ps->done) {
        return;
    }
    if (ps->depth == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 16;
        struct pframe *t = realloc(ps->st, nc * sizeof(*t));
        if (!t) {
            return;
        }
        ps->st = t;
        ps->cap = nc;
    }
    struct pframe *f = &ps->st[ps->depth++];
    memset(f, 0, sizeof(*f));
    f->obj = ef_val_obj();
    f->name = tag_name(ps->o, name);
    strbuf__adds(&f->text, "");
    /* obj[charkey] = "" comes first: the text keeps the first position */
    ef_val_obj_set_take(f->obj, ps->o->charkey, ef_val_str(""));
    if (!ps->o->ignore_attrs && atts) {
        for (size_t i = 0; atts[i]; i += 2) {
            const char *an = (const char *)atts[i];
            /* without entity replacement libxml2 hands a literal '&' in an
             * attribute over as "&#38;" (and only then): decode it */
            const char *raw = atts[i + 1] ? (const char *)atts[i + 1] : "";
            struct strbuf dv = {0};
            strbuf__adds(&dv, "");
            for (const char *q = raw; *q;) {
                if (!strncmp(q, "&#38;", 5)) {
                    strbuf__adds(&dv, "&");
                    q += 5;
                } else {
                    strbuf__add(&dv, q++, 1);
                }
            }
            struct ef_val *av = ef_val_str_take(dv.p, dv.n);
            if (ps->o->merge_attrs) {
                assign_or_push(ps->o, f->obj, an, av);
                continue;
            }
            struct ef_val **slot = ef_val_obj_slot(f->obj, ps->o->attrkey, strlen(ps->o->attrkey));
            if (!slot || ef_val_type(*slot) != EF_OBJ) {
                ef_val_obj_set_take(f->obj, ps->o->attrkey, ef_val_obj());
                slot = ef_val_obj_slot(f->obj, ps->o->attrkey, strlen(ps->o->attrkey));
            }
            struct ef_val *ao = slot ? ef_val_mut(slot) : NULL;
            if (!ao || ef_val_obj_set_take(ao, an, av) != 0) {
                ef_val_unref(av);
            }
        }
    }
}

static bool all_space(const char *s, size_t l)
{
    for (size_t i = 0; i < l; i++) {
        if (!isspace((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static void on_end(void *ud, const xmlChar *name)
{
    struct pstate *ps = ud;
    (void)name;
    if (ps->done || !ps->depth) {
        return;
    }
    const struct popts *o = ps->o;
    struct pframe f = ps->st[--ps->depth];
    struct ef_val *obj = f.obj;
    struct ef_val *empty_str = NULL;
    if (all_space(f.text.p, f.text.n) && !f.cdata) {
        empty_str = ef_val_strn(f.text.p, f.text.n);
        ef_val_obj_del(obj, o->charkey, strlen(o->charkey));
    } else {
        const char *t = f.text.p;
        size_t tl = f.text.n;
        struct strbuf nb = {0};
        if (o->trim || o->normalize) {
            while (tl && isspace((unsigned char)*t)) {
                t++;
                tl--;
            }
            while (tl && isspace((unsigned char)t[tl - 1])) {
                tl--;
            }
        }
        if (o->normalize) {
            /* replace(/\s{2,}/g, " ") then trim */
            strbuf__adds(&nb, "");
            for (size_t i = 0; i < tl;) {
                size_t k = i;
                while (k < tl && isspace((unsigned char)t[k])) {
                    k++;
                }
                if (k - i >= 2) {
                    strbuf__adds(&nb, " ");
                    i = k;
                } else {
                    strbuf__add(&nb, t + i, 1);
                    i++;
                }
            }
            t = nb.p;
            tl = nb.n;
        }
        ef_val_obj_set_take(obj, o->charkey, ef_val_strn(t, tl));
        free(nb.p);
        if (ef_val_obj_len(obj) == 1 && !o->explicit_charkey) {
            struct ef_val *txt = ef_val_ref(ef_val_obj_get(obj, o->charkey));
            ef_val_unref(obj);
            obj = txt;
        }
    }
    if (ef_val_type(obj) == EF_OBJ && ef_val_obj_len(obj) == 0) {
        ef_val_unref(obj);
        if (o->empty_tag) {
            obj = ef_val_ref((struct ef_val *)o->empty_tag);
        } else {
            obj = empty_str ? ef_val_ref(empty_str) : ef_val_str("");
        }
    }
    ef_val_unref(empty_str);
    free(f.text.p);
    if (ps->depth > 0) {
        assign_or_push(o, ps->st[ps->depth - 1].obj, f.name, obj);
    } else {
        if (o->explicit_root) {
            struct ef_val *r = ef_val_obj();
            ef_val_obj_set_take(r, f.name, obj);
            obj = r;
        }
        ps->result = obj;
        ps->done = true;
    }
    free(f.name);
}

static void on_text(void *ud, const xmlChar *ch, int len)
{
    struct pstate *ps = ud;
    if (ps->done || !ps->depth) {
        return;
    }
    strbuf__add(&ps->st[ps->depth - 1].text, (const char *)ch, (size_t)len);
}

static void on_cdata(void *ud, const xmlChar *ch, int len)
{
    struct pstate *ps = ud;
    on_text(ud, ch, len);
    if (!ps->done && ps->depth) {
        ps->st[ps->depth - 1].cdata = true;
    }
}

static void on_error(void *ud, const char *fmt, ...)
{
    struct pstate *ps = ud;
    if (ps->err[0]) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof(ps->err), fmt, ap);
    va_end(ap);
    size_t l = strlen(ps->err);
    while (l && (ps->err[l - 1] == '\n' || ps->err[l - 1] == ' ')) {
        ps->err[--l] = 0;
    }
}

/* Parses text into *out (new ref; JSON null for blank text). 0 or -1 with err. */
/*
 * libxml2 is loaded on first use, not linked: with it come libicu and
 * libstdc++, megabytes of RSS every process would pay for. Only its SAX
 * entry point is needed. The handle stays for the life of the process.
 */
typedef int (*sax_parse_fn)(xmlSAXHandlerPtr, void *, const char *, int);

static sax_parse_fn sax_parser(char *err, size_t errlen)
{
    static sax_parse_fn fn; /* written once, on the loop thread */
    if (!fn) {
        void *h = dlopen("libxml2.so.2", RTLD_NOW | RTLD_LOCAL);
        void *sym = h ? dlsym(h, "xmlSAXUserParseMemory") : NULL;
        if (!sym) {
            snprintf(err, errlen, "cannot load libxml2: %s", dlerror());
            if (h) {
                dlclose(h);
            }
            return NULL;
        }
        memcpy(&fn, &sym, sizeof(fn));
    }
    return fn;
}

static int xml_parse(const char *text, size_t len, const struct popts *o, struct ef_val **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    if (all_space(text, len)) {
        *out = ef_val_null();
        return 0;
    }
    if (len > 2147483647u) {
        snprintf(err, errlen, "XML too large");
        return -1;
    }
    sax_parse_fn parse = sax_parser(err, errlen);
    if (!parse) {
        return -1;
    }
    struct pstate ps;
    memset(&ps, 0, sizeof(ps));
    ps.o = o;
    xmlSAXHandler h;
    memset(&h, 0, sizeof(h));
    h.startElement = on_start;
    h.endElement = on_end;
    h.characters = on_text;
    h.ignorableWhitespace = on_text;
    h.cdataBlock = on_cdata;
    h.error = on_error;
    h.fatalError = on_error;
    int rc = parse(&h, &ps, text, (int)len);
    while (ps.depth) {
        struct pframe *f = &ps.st[--ps.depth];
        ef_val_unref(f->obj);
        free(f->name);
        free(f->text.p);
    }
    free(ps.st);
    if (rc != 0 || ps.err[0] || !ps.result) {
        snprintf(err, errlen, "%s", ps.err[0] ? ps.err : "Unclosed root tag");
        ef_val_unref(ps.result);
        return -1;
    }
    *out = ps.result;
    return 0;
}

/* ======================================================================
 * Objects to XML (xml2js Builder + xmlbuilder's writer)
 * ====================================================================== */

enum { XN_ELEM, XN_TEXT, XN_RAW };

struct xnode {
    int type;
    char *name;          /* element */
    char *value;         /* text (escaped) or raw */
    struct strbuf attrs; /* rendered ` a="v"` pairs */
    struct xnode **kids;
    size_t nkids, capkids;
    struct xnode *parent;
};

struct bopts {
    const char *attrkey, *charkey;
    bool cdata, pretty, headless;
    const char *indent, *newline, *root_name;
    bool root_default;
    char *version, *encoding;
    int standalone; /* -1 none, 0 no, 1 yes */
};

static struct xnode *xn_new(int type, struct xnode *parent)
{
    struct xnode *x = calloc(1, sizeof(*x));
    if (!x) {
        return NULL;
    }
    x->type = type;
    x->parent = parent;
    if (parent) {
        if (parent->nkids == parent->capkids) {
            size_t nc = parent->capkids ? parent->capkids * 2 : 4;
            struct xnode **t = realloc(parent->kids, nc * sizeof(*t));
            if (!t) {
                free(x);
                return NULL;
            }
            parent->kids = t;
            parent->capkids = nc;
        }
        parent->kids[parent->nkids++] = x;
    }
    return x;
}

static void xn_free(struct xnode *x)
{
    if (!x) {
        return;
    }
    for (size_t i = 0; i < x->nkids; i++) {
        xn_free(x->kids[i]);
    }
    free(x->kids);
    free(x->name);
    free(x->value);
    free(x->attrs.p);
    free(x);
}

static char *text_escape(const char *s, size_t l)
{
    struct strbuf b = {0};
    strbuf__adds(&b, "");
    for (size_t i = 0; i < l; i++) {
        switch (s[i]) {
        case '&': strbuf__adds(&b, "&amp;"); break;
        case '<': strbuf__adds(&b, "&lt;"); break;
        case '>': strbuf__adds(&b, "&gt;"); break;
        case '\r': strbuf__adds(&b, "&#xD;"); break;
        default: strbuf__add(&b, s + i, 1);
        }
    }
    return b.p;
}

static void att_escape(struct strbuf *b, const char *s, size_t l)
{
    for (size_t i = 0; i < l; i++) {
        switch (s[i]) {
        case '&': strbuf__adds(b, "&amp;"); break;
        case '<': strbuf__adds(b, "&lt;"); break;
        case '"': strbuf__adds(b, "&quot;"); break;
        case '\t': strbuf__adds(b, "&#x9;"); break;
        case '\n': strbuf__adds(b, "&#xA;"); break;
        case '\r': strbuf__adds(b, "&#xD;"); break;
        default: strbuf__add(b, s + i, 1);
        }
    }
}

static struct xnode *ele(struct xnode *parent, const char *name, size_t nl)
{
    struct xnode *x = xn_new(XN_ELEM, parent);
    if (x) {
        x->name = strndup(name, nl);
    }
    return x;
}

static bool requires_cdata(const char *s)
{
    return strchr(s, '&') || strchr(s, '>') || strchr(s, '<');
}

/* txt(v) or raw CDATA */
static void add_text(const struct bopts *o, struct xnode *e, const struct ef_val *v)
{
    size_t l;
    char *s = js__to_string(v, &l);
    if (!s) {
        return;
    }
    struct xnode *t;
    if (o->cdata && ef_val_type(v) == EF_STR && requires_cdata(s)) {
        t = xn_new(XN_RAW, e);
        struct strbuf b = {0};
        strbuf__adds(&b, "<![CDATA[");
        /* entry.replace(']]>', ']]]]><![CDATA[>'): the first occurrence only */
        char *hit = strstr(s, "]]>");
        if (hit) {
            strbuf__add(&b, s, (size_t)(hit - s));
            strbuf__adds(&b, "]]]]><![CDATA[>");
            strbuf__adds(&b, hit + 3);
        } else {
            strbuf__adds(&b, s);
        }
        strbuf__adds(&b, "]]>");
        if (t) {
            t->value = b.p;
        } else {
            free(b.p);
        }
    } else {
        t = xn_new(XN_TEXT, e);
        if (t) {
            t->value = text_escape(s, l);
        }
    }
    free(s);
}

static void render(const struct bopts *o, struct xnode *e, const struct ef_val *obj);

static void render_key(const struct bopts *o, struct xnode *e, const char *key, size_t kl,
                       const struct ef_val *child)
{
    enum ef_type ct = ef_val_type(child);
    if (kl == strlen(o->attrkey) && !memcmp(key, o->attrkey, kl)) {
        for (size_t i = 0; ct == EF_OBJ && i < ef_val_obj_len(child); i++) {
            size_t al;
            const char *an = ef_val_obj_key_at(child, i, &al);
            const struct ef_val *av = ef_val_obj_val_at(child, i);
            if (!av || ef_val_type(av) == EF_NULL) {
                continue;
            }
            size_t vl;
            char *vs = js__to_string(av, &vl);
            strbuf__adds(&e->attrs, " ");
            strbuf__add(&e->attrs, an, al);
            strbuf__adds(&e->attrs, "=\"");
            att_escape(&e->attrs, vs ? vs : "", vs ? vl : 0);
            strbuf__adds(&e->attrs, "\"");
            free(vs);
        }
    } else if (kl == strlen(o->charkey) && !memcmp(key, o->charkey, kl)) {
        add_text(o, e, child);
    } else if (ct == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(child); i++) {
            const struct ef_val *entry = ef_val_arr_at(child, i);
            struct xnode *c = ele(e, key, kl);
            if (ef_val_type(entry) == EF_STR) {
                add_text(o, c, entry);
            } else {
                render(o, c, entry);
            }
        }
    } else if (ct == EF_OBJ || ct == EF_NULL) {
        render(o, ele(e, key, kl), child);
    } else {
        struct xnode *c = ele(e, key, kl);
        add_text(o, c, child);
    }
}

static void render(const struct bopts *o, struct xnode *e, const struct ef_val *obj)
{
    if (!e) {
        return;
    }
    switch (ef_val_type(obj)) {
    case EF_OBJ:
        for (size_t i = 0; i < ef_val_obj_len(obj); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(obj, i, &kl);
            render_key(o, e, k, kl, ef_val_obj_val_at(obj, i));
        }
        break;
    case EF_ARR:
        for (size_t i = 0; i < ef_val_arr_len(obj); i++) {
            const struct ef_val *child = ef_val_arr_at(obj, i);
            for (size_t k = 0; ef_val_type(child) == EF_OBJ && k < ef_val_obj_len(child); k++) {
                size_t kl;
                const char *key = ef_val_obj_key_at(child, k, &kl);
                render(o, ele(e, key, kl), ef_val_obj_val_at(child, k));
            }
        }
        break;
    case EF_NULL:
    case EF_HANDLE: break;
    default: add_text(o, e, obj); break;
    }
}

static void indent(const struct bopts *o, struct strbuf *b, int level, int suppress)
{
    if (!o->pretty || suppress) {
        return;
    }
    for (int i = 0; i < level; i++) {
        strbuf__adds(b, o->indent);
    }
}

static void endline(const struct bopts *o, struct strbuf *b, int suppress)
{
    if (o->pretty && !suppress) {
        strbuf__adds(b, o->newline);
    }
}

static void write_node(const struct bopts *o, struct strbuf *b, const struct xnode *x, int level,
                       int suppress)
{
    if (x->type != XN_ELEM) {
        indent(o, b, level, suppress);
        strbuf__adds(b, x->value ? x->value : "");
        endline(o, b, suppress);
        return;
    }
    indent(o, b, level, suppress);
    strbuf__adds(b, "<");
    strbuf__adds(b, x->name);
    if (x->attrs.p) {
        strbuf__adds(b, x->attrs.p);
    }
    bool empty = true;
    for (size_t i = 0; i < x->nkids; i++) {
        if (x->kids[i]->type == XN_ELEM || (x->kids[i]->value && *x->kids[i]->value)) {
            empty = false;
        }
    }
    if (x->nkids == 0 || empty) {
        strbuf__adds(b, "/>");
        endline(o, b, suppress);
    } else if (o->pretty && x->nkids == 1 && x->kids[0]->type != XN_ELEM) {
        strbuf__adds(b, ">");
        write_node(o, b, x->kids[0], level + 1, suppress + 1);
        strbuf__adds(b, "</");
        strbuf__adds(b, x->name);
        strbuf__adds(b, ">");
        endline(o, b, suppress);
    } else {
        strbuf__adds(b, ">");
        endline(o, b, suppress);
        for (size_t i = 0; i < x->nkids; i++) {
            write_node(o, b, x->kids[i], level + 1, suppress);
        }
        indent(o, b, level, suppress);
        strbuf__adds(b, "</");
        strbuf__adds(b, x->name);
        strbuf__adds(b, ">");
        endline(o, b, suppress);
    }
}

static struct ef_val *xml_build(const struct ef_val *value, const struct ef_val *opts, char *err,
                                size_t errlen)
{
    struct bopts o = {.attrkey = "$",
                      .charkey = "_",
                      .pretty = true,
                      .indent = "  ",
                      .newline = "\n",
                      .root_name = "root",
                      .root_default = true,
                      .standalone = 1};
    if (!opts) {
        o.pretty = false; /* Node-RED: {renderOpts: {pretty: false}} */
    } else {
        const struct ef_val *v;
        if (ef_val_type(v = ef_val_obj_get(opts, "attrkey")) == EF_STR) {
            o.attrkey = ef_val_str_get(v);
        }
        if (ef_val_type(v = ef_val_obj_get(opts, "charkey")) == EF_STR) {
            o.charkey = ef_val_str_get(v);
        }
        if ((v = ef_val_obj_get(opts, "rootName"))) {
            o.root_name = ef_val_str_get(v);
            o.root_default = !strcmp(o.root_name, "root");
        }
        o.cdata = truthy_opt(opts, "cdata", false);
        o.headless = truthy_opt(opts, "headless", false);
        const struct ef_val *ro = ef_val_obj_get(opts, "renderOpts");
        if (ro) {
            o.pretty = truthy_opt(ro, "pretty", false);
            if (ef_val_type(v = ef_val_obj_get(ro, "indent")) == EF_STR) {
                o.indent = ef_val_str_get(v);
            }
            if (ef_val_type(v = ef_val_obj_get(ro, "newline")) == EF_STR) {
                o.newline = ef_val_str_get(v);
            }
        }
        const struct ef_val *xd = ef_val_obj_get(opts, "xmldec");
        if (xd) {
            const struct ef_val *sv = ef_val_obj_get(xd, "standalone");
            o.standalone = sv ? (ef_val_truthy(sv) ? 1 : 0) : -1;
            size_t l;
            if ((v = ef_val_obj_get(xd, "version"))) {
                o.version = js__to_string(v, &l);
            }
            if ((v = ef_val_obj_get(xd, "encoding"))) {
                o.encoding = js__to_string(v, &l);
            }
        }
    }
    if (ef_val_type(value) == EF_NULL) {
        snprintf(err, errlen, "TypeError: Cannot convert undefined or null to object");
        free(o.version);
        free(o.encoding);
        return NULL;
    }
    const char *root_name = o.root_name;
    size_t rl = strlen(root_name);
    const struct ef_val *root_obj = value;
    bool one_key = (ef_val_type(value) == EF_OBJ && ef_val_obj_len(value) == 1) ||
                   (ef_val_type(value) == EF_ARR && ef_val_arr_len(value) == 1);
    if (one_key && o.root_default) {
        if (ef_val_type(value) == EF_OBJ) {
            root_name = ef_val_obj_key_at(value, 0, &rl);
            root_obj = ef_val_obj_val_at(value, 0);
        } else {
            root_name = "0";
            rl = 1;
            root_obj = ef_val_arr_at(value, 0);
        }
    }
    struct xnode *root = ele(NULL, root_name, rl);
    render(&o, root, root_obj);
    struct strbuf b = {0};
    strbuf__adds(&b, "");
    if (!o.headless) {
        strbuf__adds(&b, "<?xml version=\"");
        strbuf__adds(&b, o.version ? o.version : "1.0");
        strbuf__adds(&b, "\"");
        if (!o.version || o.encoding) {
            if (o.encoding || !ef_val_obj_get(ef_val_obj_get(opts, "xmldec"), "encoding")) {
                strbuf__adds(&b, " encoding=\"");
                strbuf__adds(&b, o.encoding ? o.encoding : "UTF-8");
                strbuf__adds(&b, "\"");
            }
        }
        if (o.standalone >= 0) {
            strbuf__adds(&b, o.standalone ? " standalone=\"yes\"" : " standalone=\"no\"");
        }
        strbuf__adds(&b, "?>");
        endline(&o, &b, 0);
    }
    write_node(&o, &b, root, 0, 0);
    xn_free(root);
    size_t nl = strlen(o.newline);
    if (o.pretty && b.n >= nl && nl && !memcmp(b.p + b.n - nl, o.newline, nl)) {
        b.n -= nl;
        b.p[b.n] = 0;
    }
    free(o.version);
    free(o.encoding);
    return ef_val_str_take(b.p, b.n);
}

/* ======================================================================
 * The node
 * ====================================================================== */

static int xml_init(struct ef_node *n, const struct ef_val *config)
{
    struct xmlnode *x = ef_node_priv(n);
    char err[256];
    const char *prop = ef_val_str_get(ef_val_obj_get(config, "property"));
    if (seq__prop_init(&x->prop, *prop ? prop : "payload", err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    return 0;
}

static void xml_close(struct ef_node *n)
{
    struct xmlnode *x = ef_node_priv(n);
    seq__prop_free(&x->prop);
}

static int xml_input(struct ef_node *n, struct ef_msg *msg)
{
    struct xmlnode *x = ef_node_priv(n);
    char err[400];
    if (seq__prop_check(&x->prop, msg, err, sizeof(err)) != 0) {
        ef_node_error(n, msg, "%s", err);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *value = seq__prop_get(&x->prop, msg);
    const struct ef_val *opts = ef_val_obj_get(ef_msg_root(msg), "options");
    if (ef_val_type(opts) != EF_OBJ) {
        opts = NULL;
    }
    if (value) {
        enum ef_type t = ef_val_type(value);
        struct ef_val *out = NULL;
        if (t == EF_OBJ || t == EF_ARR || t == EF_NULL || t == EF_BUF) {
            out = xml_build(value, opts, err, sizeof(err));
        } else if (t == EF_STR) {
            const struct ef_val *ek = opts ? ef_val_obj_get(opts, "emptyTag") : NULL;
            const struct ef_val *ak = opts ? ef_val_obj_get(opts, "attrkey") : NULL;
            const struct ef_val *ck = opts ? ef_val_obj_get(opts, "charkey") : NULL;
            struct popts po = {
                .attrkey = *x->attr            ? x->attr
                           : ef_val_truthy(ak) ? ef_val_str_get(ak)
                                               : "$",
                .charkey = *x->chr             ? x->chr
                           : ef_val_truthy(ck) ? ef_val_str_get(ck)
                                               : "_",
                .explicit_array = truthy_opt(opts, "explicitArray", true),
                .merge_attrs = truthy_opt(opts, "mergeAttrs", false),
                .ignore_attrs = truthy_opt(opts, "ignoreAttrs", false),
                .explicit_root = truthy_opt(opts, "explicitRoot", true),
                .explicit_charkey = truthy_opt(opts, "explicitCharkey", false),
                .trim = truthy_opt(opts, "trim", false),
                .normalize = truthy_opt(opts, "normalize", false),
                .normalize_tags = truthy_opt(opts, "normalizeTags", false),
                .empty_tag = ek && !(ef_val_type(ek) == EF_STR && !ef_val_str_len(ek)) ? ek : NULL,
            };
            if (xml_parse(ef_val_str_get(value), ef_val_str_len(value), &po, &out, err,
                          sizeof(err)) != 0) {
                out = NULL;
            }
        } else {
            ef_node_warn(n, "This node only handles xml strings or js objects.");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        if (opts) {
            /* Node-RED hands msg.options to xml2js, which adds these */
            struct ef_val *root = ef_msg_mut(msg);
            struct ef_val **slot = root ? ef_val_obj_slot(root, "options", 7) : NULL;
            struct ef_val *mo = slot ? ef_val_mut(slot) : NULL;
            if (mo) {
                ef_val_obj_set_take(mo, "async", ef_val_bool(t == EF_STR));
                if (t == EF_STR) {
                    const struct ef_val *ak = ef_val_obj_get(mo, "attrkey");
                    const struct ef_val *ck = ef_val_obj_get(mo, "charkey");
                    ef_val_obj_set_take(mo, "attrkey",
                                        ef_val_str(*x->attr            ? x->attr
                                                   : ef_val_truthy(ak) ? ef_val_str_get(ak)
                                                                       : "$"));
                    ef_val_obj_set_take(mo, "charkey",
                                        ef_val_str(*x->chr             ? x->chr
                                                   : ef_val_truthy(ck) ? ef_val_str_get(ck)
                                                                       : "_"));
                }
            }
        }
        if (!out) {
            ef_node_error(n, msg, "%s", err);
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        seq__prop_set(&x->prop, msg, out);
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_xml = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "xml",
    .description = "converts between an XML string and an object",
    .category = "parser",
    .inputs = 1,
    .outputs = 1,
    .props = xml_props,
    .priv_size = sizeof(struct xmlnode),
    .cb_init = xml_init,
    .cb_input = xml_input,
    .cb_close = xml_close,
};
