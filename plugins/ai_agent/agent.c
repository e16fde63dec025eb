/*
 * agent.c - the ai agent node: turns a message into an answer by calling an
 * OpenAI-compatible chat-completions model in a loop with tools.
 *
 * One message is one "run": the system prompt (Mustache over the message),
 * the session's remembered turns and the user input go to the model; when
 * the model answers with tool_calls, each call's arguments are parsed and
 * checked against the tool's JSON Schema, valid calls leave through their
 * ai tool nodes into the flow (all at once), and the answers that come back
 * through ai tool result nodes (or a timeout, or the validation error) go
 * to the model as tool messages; until the model answers with text or the
 * iteration limit is reached. Several runs may be in flight at once.
 *
 * Where the model runs: `model` is the local (on-device) model, `fallback`
 * the cloud one. A run starts on the local model and moves to the fallback
 * for good when the local model fails (no answer, timeout, HTTP error,
 * unusable reply), unless the message is sensitive, the node is localOnly,
 * or the session's memory holds a sensitive turn: then nothing is sent
 * anywhere but the local model.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <edgeflow/http.h>
#include <edgeflow/mustache.h>

#include "ai.h"
#include "schema.h"

struct run;

/* One tool call the model asked for in the current step. */
struct pending {
    struct run *run;
    char key[160];           /* msg.toolCall.id: unique per agent */
    struct ef_val *model_id; /* the model's tool_call id (string) */
    struct ef_val *name;     /* string */
    struct ef_val *args;     /* parsed arguments, or NULL */
    struct ef_val *content;  /* the tool message's content once known */
    struct ef_timer *timer;  /* while waiting for the flow */
    double started;
    double timeout_ms;
    bool waiting;
};

struct run {
    struct agent *a;
    struct run *prev, *next;
    struct ef_msg *msg;      /* the input message, owned */
    struct ef_val *messages; /* chat messages sent so far (array) */
    struct ef_val *tools;    /* the tools array of each request, or NULL */
    struct ef_val *tool_ids; /* ai tool node ids, same order as tools */
    struct ef_val *steps;
    struct ef_val *session; /* session id (string), or NULL */
    struct ef_val *user;    /* the user message's content */
    struct ef_http_call *call;
    struct pending *calls;
    size_t ncalls, nwaiting;
    int iterations;
    bool sensitive, on_fallback;
    double prompt_tokens, completion_tokens, total_tokens;
    const char *answered_by;
};

struct agent {
    struct ef_node *model;
    struct ef_node *fallback;
    const char *system_prompt;
    const char *input;
    const struct ef_val *tool_list;
    const char *session_prop;
    int64_t memory_turns;
    const char *memory_store;
    int64_t memory_sessions;
    int64_t max_iterations;
    const char *sensitive_prop;
    bool local_only;
    const char *output;
    int64_t max_concurrent, max_queued;
    struct ef_node *n;
    struct run *runs;
    size_t nruns;
    /* messages waiting for a free run (FIFO), at most max_queued */
    struct waiting *wait_head, *wait_tail;
    size_t nwaiting;
    uint64_t dropped;      /* messages refused because the wait queue was full */
    struct ef_timer *kick; /* starts waiting messages outside the call that ended a run */
    bool closing;
    uint64_t seq;
    double prompt_tokens, completion_tokens, total_tokens, requests;
};

/* A message that arrived while max_concurrent runs were in flight. */
struct waiting {
    struct waiting *next;
    struct ef_msg *msg;
};

static const struct ef_prop agent_props[] = {
    {EF_PROP_NODE, "model", NULL, true, "the ai-model to ask first (the local, on-device model)",
     offsetof(struct agent, model)},
    {EF_PROP_NODE, "fallback", "\"\"", false,
     "ai-model asked when the first fails or times out (the cloud model); never for sensitive "
     "messages",
     offsetof(struct agent, fallback)},
    {EF_PROP_STR, "systemPrompt", "\"\"", false, "system prompt, a Mustache template over msg",
     offsetof(struct agent, system_prompt)},
    {EF_PROP_STR, "input", "\"payload\"", false, "msg property holding the user input",
     offsetof(struct agent, input)},
    {EF_PROP_ANY, "tools", "[]", false, "ids of the ai tool nodes the model may call",
     offsetof(struct agent, tool_list)},
    {EF_PROP_STR, "sessionProperty", "\"sessionId\"", false,
     "msg property naming the conversation to remember (empty: no memory)",
     offsetof(struct agent, session_prop)},
    {EF_PROP_INT, "memoryTurns", "10", false,
     "question/answer turns remembered per session (0: no memory)",
     offsetof(struct agent, memory_turns)},
    {EF_PROP_STR, "memoryStore", "\"\"", false, "context store of the memory (empty: default)",
     offsetof(struct agent, memory_store)},
    {EF_PROP_INT, "memorySessions", "1000", false,
     "sessions remembered; past it the least recently updated is forgotten",
     offsetof(struct agent, memory_sessions)},
    {EF_PROP_INT, "maxIterations", "8", false, "model requests per message before giving up",
     offsetof(struct agent, max_iterations)},
    {EF_PROP_INT, "maxConcurrent", "4", false,
     "messages answered at once; later ones wait in arrival order",
     offsetof(struct agent, max_concurrent)},
    {EF_PROP_INT, "maxQueued", "100", false,
     "messages waiting for a free run; past it a message is dropped with an error",
     offsetof(struct agent, max_queued)},
    {EF_PROP_STR, "sensitiveProperty", "\"sensitive\"", false,
     "msg property that, when truthy, keeps the message on the local model",
     offsetof(struct agent, sensitive_prop)},
    {EF_PROP_BOOL, "localOnly", "false", false, "never use the fallback model",
     offsetof(struct agent, local_only)},
    {EF_PROP_STR, "output", "\"agent\"", false,
     "msg property for {model, fallback, iterations, usage, steps}",
     offsetof(struct agent, output)},
    {EF_PROP_END},
};

#define MEMORY_KEY "memory"
#define MAX_RESPONSE (8u << 20)

static void run_request(struct run *r);
static void run_next(struct run *r);

/* ---- Small helpers ---- */

static int obj_set(struct ef_val *o, const char *key, struct ef_val *v)
{
    if (!v) {
        return EF_ENOMEM;
    }
    int rc = ef_val_obj_set_take(o, key, v);
    if (rc != 0) {
        ef_val_unref(v);
    }
    return rc;
}

static int arr_push(struct ef_val *a, struct ef_val *v)
{
    if (!v) {
        return EF_ENOMEM;
    }
    int rc = ef_val_arr_push_take(a, v);
    if (rc != 0) {
        ef_val_unref(v);
    }
    return rc;
}

/* A value as text for the model: strings as they are, anything else as JSON. */
static struct ef_val *as_text(const struct ef_val *v)
{
    if (!v) {
        return ef_val_str("");
    }
    if (ef_val_type(v) == EF_STR) {
        return ef_val_ref((struct ef_val *)v);
    }
    size_t len;
    char *j = ef_json_print(v, 0, &len);
    return j ? ef_val_str_take(j, len) : NULL;
}

static struct ef_val *chat_msg(const char *role, struct ef_val *content)
{
    struct ef_val *m = ef_val_obj();
    if (!m || obj_set(m, "role", ef_val_str(role)) || obj_set(m, "content", content)) {
        ef_val_unref(m);
        return NULL;
    }
    return m;
}

static const struct ai_model_conf *current_model(const struct run *r)
{
    return ai__model_conf(r->on_fallback ? r->a->fallback : r->a->model);
}

static void show_usage(struct agent *a, const char *fill, const char *shape)
{
    char text[96];
    snprintf(text, sizeof(text), "%.0f tokens, %.0f request%s", a->total_tokens, a->requests,
             a->requests == 1 ? "" : "s");
    ef_node_status(a->n, fill, shape, text);
}

/* ---- Conversation memory (node context "memory": {session: [turn messages]}) ---- */

/* The remembered messages of r's session (new reference), or NULL. */
static struct ef_val *memory_get(struct run *r)
{
    struct agent *a = r->a;
    if (!r->session || a->memory_turns <= 0) {
        return NULL;
    }
    struct ef_val *all =
        ef_ctx_get(a->n, EF_CTX_NODE, *a->memory_store ? a->memory_store : NULL, MEMORY_KEY);
    struct ef_val *mine =
        ef_val_ref(ef_val_obj_getn(all, ef_val_str_get(r->session), ef_val_str_len(r->session)));
    ef_val_unref(all);
    if (ef_val_type(mine) != EF_ARR) {
        ef_val_unref(mine);
        return NULL;
    }
    return mine;
}

/*
 * Appends the finished turn to the session's memory, keeping the last memoryTurns turns. The
 * session moves to the end of the memory object, and past memorySessions the least recently
 * updated session is forgotten.
 */
static void memory_add(struct run *r, const struct ef_val *answer)
{
    struct agent *a = r->a;
    if (!r->session || a->memory_turns <= 0) {
        return;
    }
    const char *store = *a->memory_store ? a->memory_store : NULL;
    struct ef_val *all = ef_ctx_get(a->n, EF_CTX_NODE, store, MEMORY_KEY);
    if (ef_val_type(all) != EF_OBJ) {
        ef_val_unref(all);
        all = ef_val_obj();
    }
    struct ef_val *mem = all ? ef_val_mut(&all) : NULL; /* shallow copy of the stored object */
    const char *sid = ef_val_str_get(r->session);
    size_t sidlen = ef_val_str_len(r->session);
    struct ef_val *old = ef_val_ref(mem ? ef_val_obj_getn(mem, sid, sidlen) : NULL);
    struct ef_val *list = ef_val_arr();
    struct ef_val *u = chat_msg("user", ef_val_ref(r->user));
    struct ef_val *as = chat_msg("assistant", ef_val_ref((struct ef_val *)answer));
    bool ok = mem && list && u && as;
    size_t n = ef_val_type(old) == EF_ARR ? ef_val_arr_len(old) : 0;
    size_t keep = (size_t)a->memory_turns * 2 - 2; /* room for this turn */
    for (size_t i = n > keep ? n - keep : 0; ok && i < n; i++) {
        ok = arr_push(list, ef_val_ref(ef_val_arr_at(old, i))) == 0;
    }
    ef_val_unref(old);
    if (ok && r->sensitive) {
        ok = obj_set(u, "sensitive", ef_val_bool(true)) == 0 &&
             obj_set(as, "sensitive", ef_val_bool(true)) == 0;
    }
    if (ok) {
        ok = ef_val_arr_push_take(list, u) == 0;
        u = ok ? NULL : u;
    }
    if (ok) {
        ok = ef_val_arr_push_take(list, as) == 0;
        as = ok ? NULL : as;
    }
    if (ok) {
        ef_val_obj_del(mem, sid, sidlen);
        ok = ef_val_obj_setn_take(mem, sid, sidlen, list) == 0;
        list = ok ? NULL : list;
    }
    while (ok && ef_val_obj_len(mem) > (size_t)a->memory_sessions) {
        size_t klen;
        char *k = strndup(ef_val_obj_key_at(mem, 0, &klen), klen);
        ok = k && ef_val_obj_del(mem, k, klen) == 0;
        free(k);
    }
    ef_val_unref(u);
    ef_val_unref(as);
    ef_val_unref(list);
    if (!ok || ef_ctx_set_take(a->n, EF_CTX_NODE, store, MEMORY_KEY, all) != 0) {
        ef_val_unref(all);
        ef_node_warn(a->n, "cannot store the conversation memory");
    }
}

/* ---- Finishing a run ---- */

static void pending_clear(struct pending *p)
{
    ef_timer_free(p->timer);
    p->timer = NULL;
    ef_val_unref(p->model_id);
    ef_val_unref(p->name);
    ef_val_unref(p->args);
    ef_val_unref(p->content);
    memset(p, 0, sizeof(*p));
}

static void calls_clear(struct run *r)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        pending_clear(&r->calls[i]);
    }
    free(r->calls);
    r->calls = NULL;
    r->ncalls = r->nwaiting = 0;
}

static void run_free(struct run *r)
{
    struct agent *a = r->a;
    if (r->prev) {
        r->prev->next = r->next;
    } else if (a->runs == r) {
        a->runs = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    a->nruns--;
    if (a->wait_head && !a->closing) {
        ef_timer_start(a->kick, 0, 0);
    }
    ef_http_cancel(r->call);
    calls_clear(r);
    ef_msg_free(r->msg);
    ef_val_unref(r->messages);
    ef_val_unref(r->tools);
    ef_val_unref(r->tool_ids);
    ef_val_unref(r->steps);
    ef_val_unref(r->session);
    ef_val_unref(r->user);
    free(r);
}

/* msg[output] = {model, fallback, iterations, usage, steps}. */
static void set_output(struct run *r)
{
    struct ef_val *o = ef_val_obj();
    struct ef_val *usage = ef_val_obj();
    if (!o || !usage) {
        ef_val_unref(o);
        ef_val_unref(usage);
        return;
    }
    obj_set(usage, "prompt_tokens", ef_val_num(r->prompt_tokens));
    obj_set(usage, "completion_tokens", ef_val_num(r->completion_tokens));
    obj_set(usage, "total_tokens", ef_val_num(r->total_tokens));
    obj_set(o, "model", r->answered_by ? ef_val_str(r->answered_by) : ef_val_null());
    obj_set(o, "fallback", ef_val_bool(r->on_fallback));
    obj_set(o, "sensitive", ef_val_bool(r->sensitive));
    obj_set(o, "iterations", ef_val_num(r->iterations));
    obj_set(o, "usage", usage);
    obj_set(o, "steps", ef_val_ref(r->steps));
    if (ef_msg_set_take(r->msg, r->a->output, o) != 0) {
        ef_val_unref(o);
    }
}

static void run_fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the run with an error on the catch path; msg carries what happened so far. */
static void run_fail(struct run *r, const char *fmt, ...)
{
    struct ef_node *n = r->a->n;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    set_output(r);
    ef_node_error(n, r->msg, "%s", text);
    ef_node_done(n, r->msg);
    char shortt[64];
    snprintf(shortt, sizeof(shortt), "%.60s", text);
    ef_node_status(n, "red", "ring", shortt);
    run_free(r);
}

static void run_answer(struct run *r, const struct ef_val *content)
{
    struct ef_node *n = r->a->n;
    struct ef_val *answer =
        ef_val_type(content) == EF_STR ? ef_val_ref((struct ef_val *)content) : ef_val_str("");
    memory_add(r, answer);
    set_output(r);
    if (!answer || ef_msg_set_take(r->msg, "payload", answer) != 0) {
        ef_val_unref(answer);
        run_fail(r, "out of memory");
        return;
    }
    struct ef_msg *msg = r->msg;
    r->msg = NULL;
    ef_node_done(n, msg);
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    show_usage(r->a, "green", "dot");
    run_free(r);
}

/* ---- Tool calls ---- */

static void step_tool(struct run *r, struct pending *p, const char *error)
{
    struct ef_val *s = ef_val_obj();
    if (!s) {
        return;
    }
    obj_set(s, "type", ef_val_str("tool"));
    obj_set(s, "name", ef_val_ref(p->name));
    obj_set(s, "id", ef_val_ref(p->model_id));
    obj_set(s, "arguments", p->args ? ef_val_ref(p->args) : ef_val_null());
    if (error) {
        obj_set(s, "error", ef_val_str(error));
    } else {
        obj_set(s, "result", ef_val_ref(p->content));
    }
    if (p->started > 0) {
        obj_set(s, "latencyMs", ef_val_num(round(ef_now_ms() - p->started)));
    }
    arr_push(r->steps, s);
}

/* Settles call p with `content` (adopted) or an error text; continues when it was the last. */
static void call_settle(struct pending *p, struct ef_val *content, const char *error)
{
    struct run *r = p->run;
    if (error) {
        ef_val_unref(content);
        content = ef_val_strf("Error: %s", error);
    }
    p->content = content ? content : ef_val_str("Error: out of memory");
    step_tool(r, p, error);
    ef_timer_free(p->timer);
    p->timer = NULL;
    if (p->waiting) {
        p->waiting = false;
        r->nwaiting--;
        if (r->nwaiting == 0) {
            run_next(r);
        }
    }
}

static void on_tool_timeout(struct ef_node *n, void *arg)
{
    struct pending *p = arg;
    char text[160];
    snprintf(text, sizeof(text), "the tool '%s' did not answer within %g s",
             ef_val_str_get(p->name), p->timeout_ms / 1000);
    ef_node_warn(n, "tool call %s: %s", p->key, text);
    call_settle(p, NULL, text);
}

int ai__agent_tool_result(struct ef_node *an, const char *call_id, const struct ef_val *result,
                          const char *error)
{
    if (!an || ef_node_type_of(an) != &ai__agent_type || !call_id) {
        return EF_ENOENT;
    }
    struct agent *a = ef_node_priv(an);
    for (struct run *r = a->runs; r; r = r->next) {
        for (size_t i = 0; i < r->ncalls; i++) {
            struct pending *p = &r->calls[i];
            if (p->waiting && !strcmp(p->key, call_id)) {
                call_settle(p, error ? NULL : as_text(result), error);
                return 0;
            }
        }
    }
    return EF_ENOENT;
}

/* Index of the tool called `name` in the run's tools, or -1. */
static long tool_index(const struct run *r, const char *name)
{
    for (size_t i = 0; i < ef_val_arr_len(r->tools); i++) {
        const struct ef_val *f = ef_val_obj_get(ef_val_arr_at(r->tools, i), "function");
        if (!strcmp(ef_val_str_get(ef_val_obj_get(f, "name")), name)) {
            return (long)i;
        }
    }
    return -1;
}

/* Checks one call and sends it into the flow; on a problem settles it with the error. */
static void call_start(struct run *r, struct pending *p, const struct ef_val *fn)
{
    struct agent *a = r->a;
    char err[600];
    const char *name = ef_val_str_get(p->name);
    long ti = ef_val_type(p->name) == EF_STR ? tool_index(r, name) : -1;
    if (ti < 0) {
        char names[400] = "";
        size_t used = 0;
        for (size_t i = 0; i < ef_val_arr_len(r->tools); i++) {
            const struct ef_val *f = ef_val_obj_get(ef_val_arr_at(r->tools, i), "function");
            int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                             ef_val_str_get(ef_val_obj_get(f, "name")));
            if (w > 0 && (size_t)w < sizeof(names) - used) {
                used += (size_t)w;
            }
        }
        snprintf(err, sizeof(err), "unknown tool '%s'; the tools are: %s", name,
                 used ? names : "(none)");
        call_settle(p, NULL, err);
        return;
    }
    struct ef_node *tn = ef_node_lookup(a->n, ef_val_str_get(ef_val_arr_at(r->tool_ids, ti)));
    const struct ai_tool_conf *t = ai__tool_conf(tn);
    if (!t) {
        snprintf(err, sizeof(err), "the tool '%s' is not available now", name);
        call_settle(p, NULL, err);
        return;
    }
    const struct ef_val *args = ef_val_obj_get(fn, "arguments");
    if (ef_val_type(args) == EF_STR) {
        char perr[300];
        const char *text = ef_val_str_get(args);
        size_t len = ef_val_str_len(args);
        p->args = len ? ef_json_parse(text, len, perr, sizeof(perr)) : ef_val_obj();
        if (!p->args) {
            snprintf(err, sizeof(err), "the arguments are not valid JSON (%s): %.200s", perr, text);
            call_settle(p, NULL, err);
            return;
        }
    } else if (ef_val_type(args) == EF_OBJ || !args) {
        p->args = args ? ef_val_ref((struct ef_val *)args) : ef_val_obj(); /* some servers */
    } else {
        p->args = ef_val_ref((struct ef_val *)args);
    }
    if (ef_val_type(p->args) != EF_OBJ) {
        snprintf(err, sizeof(err), "the arguments must be a JSON object, got %s",
                 ef_type_name(ef_val_type(p->args)));
        call_settle(p, NULL, err);
        return;
    }
    char verr[512];
    if (schema__validate(t->parameters, p->args, "arguments", verr, sizeof(verr)) != 0) {
        snprintf(err, sizeof(err), "invalid arguments for '%s': %s", name, verr);
        call_settle(p, NULL, err);
        return;
    }
    struct ef_msg *m = ef_msg_new();
    struct ef_val *tc = ef_val_obj();
    if (!m || !tc) {
        ef_msg_free(m);
        ef_val_unref(tc);
        call_settle(p, NULL, "out of memory");
        return;
    }
    obj_set(tc, "id", ef_val_str(p->key));
    obj_set(tc, "name", ef_val_ref(p->name));
    obj_set(tc, "agent", ef_val_str(ef_node_id(a->n)));
    obj_set(tc, "callId", ef_val_ref(p->model_id));
    if (r->session) {
        obj_set(tc, "session", ef_val_ref(r->session));
    }
    if (ef_msg_set_take(m, "topic", ef_val_ref(p->name)) != 0 ||
        ef_msg_set_take(m, "payload", ef_val_ref(p->args)) != 0 ||
        ef_msg_set_take(m, "toolCall", tc) != 0) {
        ef_msg_free(m);
        call_settle(p, NULL, "out of memory");
        return;
    }
    p->started = ef_now_ms();
    p->timeout_ms = t->timeout_ms;
    p->timer = ef_timer_new(a->n, on_tool_timeout, p);
    if (!p->timer || ef_timer_start(p->timer, (uint64_t)t->timeout_ms, 0) != 0) {
        ef_msg_free(m);
        call_settle(p, NULL, "out of memory");
        return;
    }
    if (ef_node_send(tn, 0, m) != 0) {
        ef_msg_free(m);
        call_settle(p, NULL, "the flow's queue is full");
        return;
    }
    /* Delivery is queued: the answer cannot arrive before this returns. */
    p->waiting = true;
    r->nwaiting++;
}

/* The model asked for tool calls (array, non-empty): run them all at once. */
static void run_tools(struct run *r, const struct ef_val *calls)
{
    size_t n = ef_val_arr_len(calls);
    r->calls = calloc(n, sizeof(*r->calls));
    if (!r->calls) {
        run_fail(r, "out of memory");
        return;
    }
    r->ncalls = n;
    r->nwaiting = 0;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = &r->calls[i];
        const struct ef_val *c = ef_val_arr_at(calls, i);
        const struct ef_val *id = ef_val_obj_get(c, "id");
        const struct ef_val *name = ef_val_obj_get(ef_val_obj_get(c, "function"), "name");
        p->run = r;
        snprintf(p->key, sizeof(p->key), "%s-%llu", ef_node_id(r->a->n),
                 (unsigned long long)++r->a->seq);
        p->model_id = ef_val_type(id) == EF_STR && ef_val_str_len(id)
                          ? ef_val_ref((struct ef_val *)id)
                          : ef_val_strf("call_%zu", i);
        p->name = ef_val_type(name) == EF_STR ? ef_val_ref((struct ef_val *)name) : ef_val_str("");
        if (!p->model_id || !p->name) {
            run_fail(r, "out of memory");
            return;
        }
    }
    /* Calls that fail their checks settle at once (not waiting); valid ones wait for the flow. */
    for (size_t i = 0; i < n; i++) {
        call_start(r, &r->calls[i], ef_val_obj_get(ef_val_arr_at(calls, i), "function"));
    }
    if (r->nwaiting == 0) {
        run_next(r);
    }
}

/* All calls of the step are settled: append the tool messages and ask the model again. */
static void run_next(struct run *r)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        struct pending *p = &r->calls[i];
        struct ef_val *m = chat_msg("tool", ef_val_ref(p->content));
        if (!m || obj_set(m, "tool_call_id", ef_val_ref(p->model_id)) != 0) {
            ef_val_unref(m);
            run_fail(r, "out of memory");
            return;
        }
        if (arr_push(r->messages, m) != 0) {
            run_fail(r, "out of memory");
            return;
        }
    }
    calls_clear(r);
    run_request(r);
}

/* ---- Model requests ---- */

static void step_model(struct run *r, const struct ai_model_conf *mc, double ms, int status,
                       const struct ef_val *usage, size_t ncalls, const char *error)
{
    struct ef_val *s = ef_val_obj();
    if (!s) {
        return;
    }
    obj_set(s, "type", ef_val_str("model"));
    obj_set(s, "model", ef_val_str(mc->label));
    obj_set(s, "latencyMs", ef_val_num(round(ms)));
    if (status) {
        obj_set(s, "status", ef_val_num(status));
    }
    if (error) {
        obj_set(s, "error", ef_val_str(error));
    } else {
        obj_set(s, "usage", usage ? ef_val_ref((struct ef_val *)usage) : ef_val_null());
        obj_set(s, "toolCalls", ef_val_num((double)ncalls));
    }
    arr_push(r->steps, s);
}

/* The model did not give a usable answer: move to the fallback if allowed, else fail. */
static void model_failed(struct run *r, const struct ai_model_conf *mc, const char *why)
{
    struct agent *a = r->a;
    const struct ai_model_conf *fb = ai__model_conf(a->fallback);
    if (!r->on_fallback && fb) {
        if (r->sensitive || a->local_only) {
            run_fail(r, "model %s failed: %s (not asking the fallback model %s: %s)", mc->label,
                     why, fb->label,
                     a->local_only ? "the node is local only" : "the message is sensitive");
            return;
        }
        ef_node_warn(a->n, "model %s failed: %s; asking the fallback model %s", mc->label, why,
                     fb->label);
        r->on_fallback = true;
        run_request(r);
        return;
    }
    run_fail(r, "model %s failed: %s", mc->label, why);
}

/* The text of an error response: error.message of an OpenAI error body, else the body's start. */
static void error_body(const struct ef_http_res *res, char *out, size_t len)
{
    struct ef_val *v = ef_json_parse(res->body, res->body_len, NULL, 0);
    const struct ef_val *e = ef_val_obj_get(v, "error");
    const struct ef_val *m = ef_val_type(e) == EF_OBJ ? ef_val_obj_get(e, "message") : e;
    if (ef_val_type(m) == EF_STR) {
        snprintf(out, len, "HTTP %d: %.300s", res->status, ef_val_str_get(m));
    } else {
        snprintf(out, len, "HTTP %d: %.200s", res->status, res->body_len ? res->body : "");
    }
    ef_val_unref(v);
}

/*
 * The model's tool_calls (borrowed) with an "id" on every call: a new reference to the same
 * array when all have one, else to a copy where calls without one get "call_<index>".
 */
static struct ef_val *with_call_ids(const struct ef_val *calls)
{
    bool complete = true;
    for (size_t i = 0; i < ef_val_arr_len(calls); i++) {
        const struct ef_val *id = ef_val_obj_get(ef_val_arr_at(calls, i), "id");
        complete = complete && ef_val_type(id) == EF_STR && ef_val_str_len(id) > 0;
    }
    if (complete) {
        return ef_val_ref((struct ef_val *)calls);
    }
    struct ef_val *copy = ef_val_copy(calls);
    for (size_t i = 0; copy && i < ef_val_arr_len(copy); i++) {
        struct ef_val **slot = ef_val_arr_slot(copy, i);
        struct ef_val *c = slot && ef_val_type(*slot) == EF_OBJ ? ef_val_mut(slot) : NULL;
        const struct ef_val *id = ef_val_obj_get(c, "id");
        if (c && (ef_val_type(id) != EF_STR || ef_val_str_len(id) == 0) &&
            obj_set(c, "id", ef_val_strf("call_%zu", i)) != 0) {
            ef_val_unref(copy);
            return NULL;
        }
    }
    return copy;
}

static void on_model_done(struct ef_node *n, const struct ef_http_res *res, void *arg)
{
    struct run *r = arg;
    struct agent *a = r->a;
    const struct ai_model_conf *mc = current_model(r);
    char why[512];
    r->call = NULL;
    a->requests++;
    if (!mc) {
        run_fail(r, "the ai-model node went away");
        return;
    }
    if (res->error) {
        ef_node_warn(n, "model %s: no answer after %.0f ms: %s", mc->label, res->elapsed_ms,
                     res->error);
        snprintf(why, sizeof(why), "%s", res->error);
        step_model(r, mc, res->elapsed_ms, 0, NULL, 0, why);
        model_failed(r, mc, why);
        return;
    }
    if (res->status < 200 || res->status > 299) {
        error_body(res, why, sizeof(why));
        ef_node_warn(n, "model %s: %s after %.0f ms", mc->label, why, res->elapsed_ms);
        step_model(r, mc, res->elapsed_ms, res->status, NULL, 0, why);
        model_failed(r, mc, why);
        return;
    }
    char perr[200];
    struct ef_val *body = ef_json_parse(res->body, res->body_len, perr, sizeof(perr));
    const struct ef_val *choice = ef_val_arr_at(ef_val_obj_get(body, "choices"), 0);
    const struct ef_val *message = ef_val_obj_get(choice, "message");
    const struct ef_val *usage = ef_val_obj_get(body, "usage");
    double pt = ef_val_num_get(ef_val_obj_get(usage, "prompt_tokens"));
    double ct = ef_val_num_get(ef_val_obj_get(usage, "completion_tokens"));
    double tt = ef_val_num_get(ef_val_obj_get(usage, "total_tokens"));
    if (tt == 0) {
        tt = pt + ct;
    }
    r->prompt_tokens += pt;
    r->completion_tokens += ct;
    r->total_tokens += tt;
    a->prompt_tokens += pt;
    a->completion_tokens += ct;
    a->total_tokens += tt;
    ef_node_log(n, "model %s: HTTP %d, %.0f prompt + %.0f completion = %.0f tokens, %.0f ms",
                mc->label, res->status, pt, ct, tt, res->elapsed_ms);
    if (ef_val_type(message) != EF_OBJ) {
        snprintf(why, sizeof(why), "the reply has no choices[0].message (%s)",
                 body ? "unexpected JSON" : perr);
        step_model(r, mc, res->elapsed_ms, res->status, NULL, 0, why);
        ef_val_unref(body);
        model_failed(r, mc, why);
        return;
    }
    const struct ef_val *calls = ef_val_obj_get(message, "tool_calls");
    size_t ncalls = ef_val_type(calls) == EF_ARR ? ef_val_arr_len(calls) : 0;
    const struct ef_val *content = ef_val_obj_get(message, "content");
    step_model(r, mc, res->elapsed_ms, res->status, usage, ncalls, NULL);
    r->iterations++;
    r->answered_by = mc->label;
    show_usage(a, "blue", "dot");
    /* The assistant message goes back with the next request as the model sent it, with ids
       added to tool calls that lack one (some local servers) so the tool messages match. */
    struct ef_val *fixed = ncalls ? with_call_ids(calls) : NULL;
    struct ef_val *am =
        chat_msg("assistant", ef_val_type(content) == EF_STR ? ef_val_ref((struct ef_val *)content)
                                                             : ef_val_null());
    if (!am || (ncalls && obj_set(am, "tool_calls", ef_val_ref(fixed))) ||
        arr_push(r->messages, ef_val_ref(am)) != 0) {
        ef_val_unref(am);
        ef_val_unref(fixed);
        ef_val_unref(body);
        run_fail(r, "out of memory");
        return;
    }
    ef_val_unref(am);
    if (ncalls == 0) {
        run_answer(r, content);
        ef_val_unref(body);
        return;
    }
    ef_val_unref(body);
    if (r->iterations >= a->max_iterations) {
        ef_val_unref(fixed);
        run_fail(r, "stopped after %d iterations: the model still asks for tools", r->iterations);
        return;
    }
    run_tools(r, fixed);
    ef_val_unref(fixed);
}

/* Sends the conversation so far to the run's current model. */
static void run_request(struct run *r)
{
    struct agent *a = r->a;
    const struct ai_model_conf *mc = current_model(r);
    if (!mc) {
        run_fail(r, "model %s is not a working ai-model node",
                 ef_node_id(r->on_fallback ? a->fallback : a->model));
        return;
    }
    struct ef_val *req = ef_val_obj();
    if (!req || obj_set(req, "model", ef_val_str(mc->model)) ||
        obj_set(req, "messages", ef_val_ref(r->messages)) ||
        (r->tools && obj_set(req, "tools", ef_val_ref(r->tools))) ||
        (mc->max_tokens > 0 && obj_set(req, "max_tokens", ef_val_num(mc->max_tokens))) ||
        (mc->has_temperature && obj_set(req, "temperature", ef_val_num(mc->temperature))) ||
        obj_set(req, "stream", ef_val_bool(false))) {
        ef_val_unref(req);
        run_fail(r, "out of memory");
        return;
    }
    size_t len;
    char *body = ef_json_print(req, 0, &len);
    ef_val_unref(req);
    char *auth = NULL;
    struct ef_http_header hdrs[3] = {{"Content-Type", "application/json"},
                                     {"Accept", "application/json"}};
    size_t nh = 2;
    if (mc->api_key) {
        bool bearer = !strcasecmp(mc->auth_name, "authorization");
        size_t alen = strlen(mc->api_key) + 8;
        auth = malloc(alen);
        if (auth) {
            snprintf(auth, alen, "%s%s", bearer ? "Bearer " : "", mc->api_key);
            hdrs[nh++] = (struct ef_http_header){mc->auth_name, auth};
        }
    }
    if (!body || (mc->api_key && !auth)) {
        free(body);
        free(auth);
        run_fail(r, "out of memory");
        return;
    }
    struct ef_http_req hr = {
        .method = "POST",
        .url = mc->url,
        .headers = hdrs,
        .nheaders = nh,
        .body = body,
        .body_len = len,
        .timeout_ms = (uint32_t)mc->timeout_ms,
        .max_response = MAX_RESPONSE,
    };
    char status[96];
    snprintf(status, sizeof(status), "asking %.60s", mc->label);
    ef_node_status(a->n, "blue", "ring", status);
    r->call = ef_http_request(a->n, &hr, on_model_done, r);
    free(body);
    free(auth);
    if (!r->call) {
        char why[128];
        snprintf(why, sizeof(why), "the request to %s could not be started", mc->url);
        model_failed(r, mc, why);
    }
}

/* ---- The node ---- */

/* The tools of a run: the tools array for the requests and the ids of their nodes. */
static int run_tools_decl(struct run *r)
{
    struct agent *a = r->a;
    size_t n = ef_val_arr_len(a->tool_list);
    if (n == 0) {
        return 0;
    }
    r->tools = ef_val_arr();
    r->tool_ids = ef_val_arr();
    if (!r->tools || !r->tool_ids) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ef_val *id = ef_val_arr_at(a->tool_list, i);
        const struct ai_tool_conf *t = ai__tool_conf(ef_node_lookup(a->n, ef_val_str_get(id)));
        if (!t || tool_index(r, t->name) >= 0) {
            continue; /* reported at start */
        }
        struct ef_val *tool = ef_val_obj();
        struct ef_val *fn = ef_val_obj();
        if (!tool || !fn || obj_set(fn, "name", ef_val_str(t->name)) ||
            obj_set(fn, "description", ef_val_str(t->description)) ||
            obj_set(fn, "parameters", ef_val_ref((struct ef_val *)t->parameters)) ||
            obj_set(tool, "type", ef_val_str("function"))) {
            ef_val_unref(tool);
            ef_val_unref(fn);
            return EF_ENOMEM;
        }
        if (obj_set(tool, "function", fn) || arr_push(r->tools, tool) ||
            arr_push(r->tool_ids, ef_val_ref((struct ef_val *)id))) {
            return EF_ENOMEM;
        }
    }
    if (ef_val_arr_len(r->tools) == 0) {
        ef_val_unref(r->tools);
        r->tools = NULL;
    }
    return 0;
}

/* Builds the first request's messages: system prompt, remembered turns, the input. */
static int run_messages(struct run *r, char *err, size_t errlen)
{
    struct agent *a = r->a;
    r->messages = ef_val_arr();
    if (!r->messages) {
        return EF_ENOMEM;
    }
    if (*a->system_prompt) {
        size_t len;
        char *text =
            ef_mustache_render(a->system_prompt, strlen(a->system_prompt), ef_msg_root(r->msg),
                               EF_MUSTACHE_NO_ESCAPE, &len, err, errlen);
        if (!text) {
            return EF_EINVAL;
        }
        if (arr_push(r->messages, chat_msg("system", ef_val_str_take(text, len)))) {
            return EF_ENOMEM;
        }
    }
    struct ef_val *history = memory_get(r);
    for (size_t i = 0; i < ef_val_arr_len(history); i++) {
        const struct ef_val *h = ef_val_arr_at(history, i);
        const struct ef_val *role = ef_val_obj_get(h, "role");
        if (ef_val_type(role) != EF_STR) {
            continue;
        }
        if (ef_val_truthy(ef_val_obj_get(h, "sensitive"))) {
            r->sensitive = true; /* a sensitive turn never goes to the cloud later */
        }
        if (arr_push(r->messages,
                     chat_msg(ef_val_str_get(role), as_text(ef_val_obj_get(h, "content"))))) {
            ef_val_unref(history);
            return EF_ENOMEM;
        }
    }
    ef_val_unref(history);
    return arr_push(r->messages, chat_msg("user", ef_val_ref(r->user)));
}

/* Starts a run for msg (adopted): the model is asked, or the run fails at once. */
static void run_start(struct agent *a, struct ef_msg *msg)
{
    struct ef_node *n = a->n;
    struct run *r = calloc(1, sizeof(*r));
    if (!r) {
        ef_node_error(n, msg, "out of memory");
        ef_node_done(n, msg);
        ef_msg_free(msg);
        return;
    }
    a->nruns++;
    r->a = a;
    r->msg = msg;
    r->next = a->runs;
    if (a->runs) {
        a->runs->prev = r;
    }
    a->runs = r;
    const struct ef_val *in = ef_msg_get(msg, a->input);
    if (!in || ef_val_type(in) == EF_NULL) {
        run_fail(r, "msg.%s is empty: there is no input for the model", a->input);
        return;
    }
    r->user = as_text(in);
    r->steps = ef_val_arr();
    r->sensitive = ef_val_truthy(ef_msg_get(msg, a->sensitive_prop));
    const struct ef_val *sid = *a->session_prop ? ef_msg_get(msg, a->session_prop) : NULL;
    if (ef_val_type(sid) == EF_STR || ef_val_type(sid) == EF_NUM) {
        r->session = as_text(sid);
    }
    char err[512] = "";
    int rc = r->user && r->steps ? run_tools_decl(r) : EF_ENOMEM;
    if (rc == 0) {
        rc = run_messages(r, err, sizeof(err));
    }
    if (rc == EF_EINVAL) {
        run_fail(r, "systemPrompt: %s", err);
    } else if (rc != 0) {
        run_fail(r, "out of memory");
    } else {
        run_request(r);
    }
}

/* Starts waiting messages while runs are free (the kick timer). */
static void on_kick(struct ef_node *n, void *arg)
{
    struct agent *a = arg;
    (void)n;
    while (a->wait_head && a->nruns < (size_t)a->max_concurrent) {
        struct waiting *w = a->wait_head;
        a->wait_head = w->next;
        if (!a->wait_head) {
            a->wait_tail = NULL;
        }
        a->nwaiting--;
        struct ef_msg *msg = w->msg;
        free(w);
        run_start(a, msg);
    }
}

static int cb_agent_input(struct ef_node *n, struct ef_msg *msg)
{
    struct agent *a = ef_node_priv(n);
    if (a->nruns < (size_t)a->max_concurrent && !a->wait_head) {
        run_start(a, msg);
        return EF_INPUT_ASYNC;
    }
    if (a->nwaiting >= (size_t)a->max_queued) {
        a->dropped++;
        ef_node_error(n, msg,
                      "%zu messages already wait for the model (maxQueued): message dropped "
                      "(%llu so far)",
                      a->nwaiting, (unsigned long long)a->dropped);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct waiting *w = calloc(1, sizeof(*w));
    if (!w) {
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    w->msg = msg;
    if (a->wait_tail) {
        a->wait_tail->next = w;
    } else {
        a->wait_head = w;
    }
    a->wait_tail = w;
    a->nwaiting++;
    return EF_INPUT_ASYNC;
}

static int check_path(struct ef_node *n, const char *what, const char *path, bool may_be_empty)
{
    char err[256];
    if (!*path && may_be_empty) {
        return 0;
    }
    struct ef_path *p = ef_path_parse(path, err, sizeof(err));
    if (!p) {
        ef_node_error(n, NULL, "%s: %s", what, *path ? err : "must name a msg property");
        return EF_EINVAL;
    }
    ef_path_free(p);
    return 0;
}

static int cb_agent_init(struct ef_node *n, const struct ef_val *config)
{
    struct agent *a = ef_node_priv(n);
    (void)config;
    a->n = n;
    if (!a->model || ef_node_type_of(a->model) != &ai__model_type) {
        ef_node_error(n, NULL, "model must be the id of an ai-model node");
        return EF_EINVAL;
    }
    if (a->fallback && ef_node_type_of(a->fallback) != &ai__model_type) {
        ef_node_error(n, NULL, "fallback must be the id of an ai-model node");
        return EF_EINVAL;
    }
    if (a->max_iterations < 1 || a->max_iterations > 1000) {
        ef_node_error(n, NULL, "maxIterations must be from 1 to 1000, got %lld",
                      (long long)a->max_iterations);
        return EF_EINVAL;
    }
    if (a->max_concurrent < 1 || a->max_concurrent > 10000) {
        ef_node_error(n, NULL, "maxConcurrent must be from 1 to 10000, got %lld",
                      (long long)a->max_concurrent);
        return EF_EINVAL;
    }
    if (a->max_queued < 0 || a->max_queued > 1000000) {
        ef_node_error(n, NULL, "maxQueued must be from 0 to 1000000, got %lld",
                      (long long)a->max_queued);
        return EF_EINVAL;
    }
    a->kick = ef_timer_new(n, on_kick, a);
    if (!a->kick) {
        ef_node_error(n, NULL, "out of memory");
        return EF_EINVAL;
    }
    if (a->memory_turns < 0 || a->memory_turns > 10000) {
        ef_node_error(n, NULL, "memoryTurns must be from 0 to 10000");
        return EF_EINVAL;
    }
    if (a->memory_sessions < 1 || a->memory_sessions > 1000000) {
        ef_node_error(n, NULL, "memorySessions must be from 1 to 1000000");
        return EF_EINVAL;
    }
    if (ef_val_type(a->tool_list) != EF_ARR) {
        ef_node_error(n, NULL, "tools must be an array of ai tool node ids");
        return EF_EINVAL;
    }
    for (size_t i = 0; i < ef_val_arr_len(a->tool_list); i++) {
        if (ef_val_type(ef_val_arr_at(a->tool_list, i)) != EF_STR) {
            ef_node_error(n, NULL, "tools[%zu] must be the id of an ai tool node", i);
            return EF_EINVAL;
        }
    }
    if (check_path(n, "input", a->input, false) ||
        check_path(n, "sessionProperty", a->session_prop, true) ||
        check_path(n, "sensitiveProperty", a->sensitive_prop, true) ||
        check_path(n, "output", a->output, false)) {
        return EF_EINVAL;
    }
    if (!*a->sensitive_prop) {
        a->sensitive_prop = "sensitive";
    }
    /* Rendering against an empty object finds template syntax errors now, not per message. */
    char err[512];
    struct ef_val *empty = ef_val_obj();
    char *probe = empty ? ef_mustache_render(a->system_prompt, strlen(a->system_prompt), empty, 0,
                                             NULL, err, sizeof(err))
                        : NULL;
    bool oom = !empty;
    ef_val_unref(empty);
    if (!probe) {
        ef_node_error(n, NULL, "systemPrompt: %s", oom ? "out of memory" : err);
        return EF_EINVAL;
    }
    free(probe);
    return 0;
}

/* Once every node exists: report tools that are missing, of the wrong type, or named twice. */
static void cb_agent_start(struct ef_node *n)
{
    struct agent *a = ef_node_priv(n);
    for (size_t i = 0; i < ef_val_arr_len(a->tool_list); i++) {
        const char *id = ef_val_str_get(ef_val_arr_at(a->tool_list, i));
        const struct ai_tool_conf *t = ai__tool_conf(ef_node_lookup(n, id));
        if (!t) {
            ef_node_error(n, NULL, "tools[%zu]: '%s' is not a working ai tool node; left out", i,
                          id);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct ai_tool_conf *o =
                ai__tool_conf(ef_node_lookup(n, ef_val_str_get(ef_val_arr_at(a->tool_list, j))));
            if (o && !strcmp(o->name, t->name)) {
                ef_node_error(n, NULL, "tools[%zu]: a tool named '%s' is already listed; left out",
                              i, t->name);
                break;
            }
        }
    }
}

static void cb_agent_close(struct ef_node *n)
{
    struct agent *a = ef_node_priv(n);
    a->closing = true;
    while (a->runs) {
        run_free(a->runs);
    }
    while (a->wait_head) {
        struct waiting *w = a->wait_head;
        a->wait_head = w->next;
        ef_node_done(n, w->msg);
        ef_msg_free(w->msg);
        free(w);
    }
    a->wait_tail = NULL;
    a->nwaiting = 0;
    ef_timer_free(a->kick);
    a->kick = NULL;
}

const struct ef_node_type ai__agent_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "ai agent",
    .description = "Answers msg.payload with an LLM that may call ai tool nodes; local model "
                   "first, the fallback (cloud) model when allowed",
    .category = "ai",
    .inputs = 1,
    .outputs = 1,
    .props = agent_props,
    .priv_size = sizeof(struct agent),
    .cb_init = cb_agent_init,
    .cb_start = cb_agent_start,
    .cb_input = cb_agent_input,
    .cb_close = cb_agent_close,
};
