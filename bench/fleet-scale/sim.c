/*
 * sim.c - a protocol-level simulator of many fleet devices in one process,
 * for bench/fleet-scale/sim.sh: it measures what `edgeflow manager` costs
 * per device, without running thousands of agents.
 *
 * Each simulated device speaks docs/fleet-protocol.md on its own MQTT 3.1.1
 * connection, written by hand on one single-threaded epoll loop (paho would
 * need two threads per client): CONNECT with the retained offline state as
 * its will, SUBSCRIBE to its desired and cmd topics, a retained QoS 1 state
 * at connect, a QoS 0 heartbeat every --hb seconds (random phase), PINGREQ
 * when idle. A desired document is acknowledged (PUBACK), its ed25519
 * signature verified with the manager key (libsodium), and answered at once
 * with a state that runs the snapshot, healthy, result "applied"; a cmd gets
 * an ok resp.
 *
 * Devices enrol over HTTP with one provisioning token (created through the
 * REST API unless --prov-token is given) and their own key pairs; the
 * identities are kept in --state FILE so a second run reuses them.
 *
 * After every device is connected and --settle seconds passed, it samples the
 * manager's CPU time (/proc/PID/stat) over --seconds and prints its CPU % of
 * one core and RSS; with --rollout it then starts a rollout of a new snapshot
 * to the group and prints the time until the rollout is completed.
 *
 *   sim --manager http://127.0.0.1:PORT --manager-pid PID [-n 10000] [--group sim]
 *       [--api-token TOKEN] [--prov-token TOKEN] [--broker HOST:PORT] [--hb 10]
 *       [--rate 1000] [--settle 15] [--seconds 60] [--state FILE] [--broker-pid PID]
 *       [--rollout] [--waves JSON]
 * Prints a summary and one line "RESULT {json}".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEEPALIVE 60

struct buf {
    uint8_t *p;
    size_t len, off, cap;
};

struct dev {
    char id[72];
    char token[64];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    int fd;
    int state; /* 0 down, 1 connecting, 2 waiting for CONNACK, 3 up */
    bool want_out;
    struct buf in, out;
    uint64_t next_hb, last_tx, started;
    uint16_t pkid;
    long long seq;
    char snapshot[72];
    bool revoked;
};

struct sim {
    const char *mhost;
    int mport;
    char bhost[64];
    int bport;
    const char *api_token, *group, *state_path, *waves;
    char prov_token[128];
    char prefix[128];
    unsigned char mkey[crypto_sign_PUBLICKEYBYTES];
    bool have_mkey;
    int n, hb, rate, settle, seconds;
    int manager_pid, broker_pid;
    bool rollout;
    struct dev *devs;
    int ep;
    /* counters */
    long connected, hb_sent, desired_in, desired_bad, states_out, cmds_in, disconnects;
    uint64_t t0;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- tiny JSON helpers: the documents are flat enough to find keys by name ---- */

/*
 * The string value of the first "key" in json (after from, if given),
 * unescaped into a new string; NULL when absent. \uXXXX escapes outside
 * ASCII become '?', which the texts used here never contain.
 */
static char *json_str(const char *json, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(json, pat);
    while (p) {
        const char *q = p + strlen(pat);
        while (*q == ' ') {
            q++;
        }
        if (*q == ':') {
            q++;
            while (*q == ' ') {
                q++;
            }
            if (*q != '"') {
                return NULL;
            }
            q++;
            char *out = malloc(strlen(q) + 1), *w = out;
            while (*q && *q != '"') {
                if (*q == '\\' && q[1]) {
                    q++;
                    switch (*q) {
                    case 'n': *w++ = '\n'; break;
                    case 't': *w++ = '\t'; break;
                    case 'r': *w++ = '\r'; break;
                    case 'b': *w++ = '\b'; break;
                    case 'f': *w++ = '\f'; break;
                    case 'u': {
                        unsigned v = 0;
                        if (sscanf(q + 1, "%4x", &v) == 1) {
                            *w++ = v < 0x80 ? (char)v : '?';
                            q += 4;
                        }
                        break;
                    }
                    default: *w++ = *q;
                    }
                    q++;
                } else {
                    *w++ = *q++;
                }
            }
            *w = '\0';
            return out;
        }
        p = strstr(p + 1, pat);
    }
    return NULL;
}

static bool json_num(const char *json, const char *key, long long *out)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) {
        return false;
    }
    char *end;
    *out = strtoll(p + strlen(pat), &end, 10);
    return end != p + strlen(pat);
}

/* ---- blocking HTTP/1.1 for enrolment and the REST API ---- */

/* One request; the body of the answer (malloc'ed) and its status in *status. */
static char *http(struct sim *s, const char *method, const char *path, const char *bearer,
                  const char *body, int *status)
{
    *status = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->mport)};
    inet_pton(AF_INET, s->mhost, &a.sin_addr);
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 50; attempt++) { /* 5 s for a starting manager */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            close(fd);
            fd = -1;
            usleep(100000);
        }
    }
    if (fd < 0) {
        return NULL;
    }
    size_t blen = body ? strlen(body) : 0;
    char *req = malloc(blen + 1024);
    int hl = snprintf(req, 1024,
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                      "Accept: application/json\r\n%s%s%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, s->mhost, s->mport, bearer ? "Authorization: Bearer " : "",
                      bearer ? bearer : "", bearer ? "\r\n" : "", blen);
    memcpy(req + hl, body ? body : "", blen);
    size_t total = (size_t)hl + blen, off = 0;
    while (off < total) {
        ssize_t w = write(fd, req + off, total - off);
        if (w <= 0) {
            break;
        }
        off += (size_t)w;
    }
    free(req);
    size_t cap = 65536, len = 0;
    char *resp = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            resp = realloc(resp, cap);
        }
        ssize_t r = read(fd, resp + len, cap - len - 1);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    resp[len] = '\0';
    sscanf(resp, "HTTP/1.%*d %d", status);
    char *b = strstr(resp, "\r\n\r\n");
    if (!b) {
        free(resp);
        return NULL;
    }
    b += 4;
    /* chunked answers: join the chunks */
    if (strcasestr(resp, "transfer-encoding: chunked") &&
        strcasestr(resp, "transfer-encoding") < b) {
        char *out = malloc(len + 1), *w = out, *r = b;
        for (;;) {
            char *end;
            long n = strtol(r, &end, 16);
            if (end == r || n <= 0) {
                break;
            }
            r = strstr(end, "\r\n");
            if (!r) {
                break;
            }
            r += 2;
            memcpy(w, r, (size_t)n);
            w += n;
            r += n + 2;
        }
        *w = '\0';
        free(resp);
        return out;
    }
    memmove(resp, b, strlen(b) + 1);
    return resp;
}

/* ---- enrolment ---- */

static void b64(const unsigned char *bin, size_t len, char *out, size_t outlen)
{
    sodium_bin2base64(out, outlen, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

static bool load_state(struct sim *s)
{
    FILE *f = s->state_path ? fopen(s->state_path, "r") : NULL;
    if (!f) {
        return false;
    }
    char mk[128], line[1024];
    int n = 0;
    if (fscanf(f, "manager %127s %127s\n", mk, s->prefix) != 2 ||
        sodium_base642bin(s->mkey, sizeof(s->mkey), mk, strlen(mk), NULL, NULL, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        fclose(f);
        return false;
    }
    s->have_mkey = true;
    while (n < s->n && fgets(line, sizeof(line), f)) {
        struct dev *d = &s->devs[n];
        char sk[128];
        if (sscanf(line, "%71s %63s %127s", d->id, d->token, sk) != 3 ||
            sodium_base642bin(d->sk, sizeof(d->sk), sk, strlen(sk), NULL, NULL, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            break;
        }
        crypto_sign_ed25519_sk_to_pk(d->pk, d->sk);
        n++;
    }
    fclose(f);
    if (n < s->n) {
        fprintf(stderr, "sim: %s has %d devices, %d wanted: enrolling again\n", s->state_path, n,
                s->n);
        return false;
    }
    return true;
}

static void save_state(struct sim *s)
{
    if (!s->state_path) {
        return;
    }
    FILE *f = fopen(s->state_path, "w");
    if (!f) {
        die("cannot write %s", s->state_path);
    }
    char mk[64], sk[128];
    b64(s->mkey, sizeof(s->mkey), mk, sizeof(mk));
    fprintf(f, "manager %s %s\n", mk, s->prefix);
    for (int i = 0; i < s->n; i++) {
        b64(s->devs[i].sk, sizeof(s->devs[i].sk), sk, sizeof(sk));
        fprintf(f, "%s %s %s\n", s->devs[i].id, s->devs[i].token, sk);
    }
    fclose(f);
}

static void create_prov_token(struct sim *s)
{
    char body[256];
    int st;
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"description\":\"fleet-scale simulator\"}",
             s->group);
    free(http(s, "POST", "/fleet/v1/groups", s->api_token, body, &st)); /* 409 when it exists */
    snprintf(body, sizeof(body), "{\"group\":\"%s\",\"uses\":%d,\"labels\":{\"sim\":\"1\"}}",
             s->group, s->n + 10);
    char *r = http(s, "POST", "/fleet/v1/provisioning-tokens", s->api_token, body, &st);
    char *t = r ? json_str(r, "token") : NULL;
    if (st != 201 && st != 200) {
        die("POST /fleet/v1/provisioning-tokens: HTTP %d %s", st, r ? r : "");
    }
    if (!t) {
        die("POST /fleet/v1/provisioning-tokens: no token in %s", r ? r : "");
    }
    snprintf(s->prov_token, sizeof(s->prov_token), "%s", t);
    free(t);
    free(r);
}

static void enrol_all(struct sim *s)
{
    if (load_state(s)) {
        printf("sim: %d identities from %s\n", s->n, s->state_path);
        return;
    }
    if (!*s->prov_token) {
        create_prov_token(s);
    }
    uint64_t t = now_ms();
    for (int i = 0; i < s->n; i++) {
        struct dev *d = &s->devs[i];
        crypto_sign_keypair(d->pk, d->sk);
        char pk[64], proof[128], msg[512], body[1024], name[72];
        b64(d->pk, sizeof(d->pk), pk, sizeof(pk));
        int ml = snprintf(msg, sizeof(msg), "edgeflow-enrol:%s:%s", s->prov_token, pk);
        unsigned char sig[crypto_sign_BYTES];
        crypto_sign_detached(sig, NULL, (const unsigned char *)msg, (size_t)ml, d->sk);
        b64(sig, sizeof(sig), proof, sizeof(proof));
        snprintf(name, sizeof(name), "sim-%05d", i);
        snprintf(body, sizeof(body),
                 "{\"token\":\"%s\",\"name\":\"%s\",\"publicKey\":\"%s\",\"proof\":\"%s\","
                 "\"agentVersion\":\"sim\"}",
                 s->prov_token, name, pk, proof);
        int st;
        char *r = http(s, "POST", "/fleet/v1/enrol", NULL, body, &st);
        char *id = r ? json_str(r, "deviceId") : NULL;
        char *pw = r ? json_str(r, "password") : NULL;
        char *mk = r ? json_str(r, "managerKey") : NULL;
        char *pre = r ? json_str(r, "topicPrefix") : NULL;
        char *url = r ? json_str(r, "url") : NULL;
        if (st != 201 || !id || !pw || !mk || !pre) {
            die("enrol %s: HTTP %d %s", name, st, r ? r : "(no answer)");
        }
        snprintf(d->id, sizeof(d->id), "%s", id);
        snprintf(d->token, sizeof(d->token), "%s", pw);
        if (!s->have_mkey) {
            if (sodium_base642bin(s->mkey, sizeof(s->mkey), mk, strlen(mk), NULL, NULL, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0) {
                die("enrol: managerKey %s is not base64 of 32 bytes", mk);
            }
            s->have_mkey = true;
            snprintf(s->prefix, sizeof(s->prefix), "%s", pre);
            const char *hp = url ? strstr(url, "://") : NULL;
            if (!*s->bhost && hp) {
                char host[64];
                int port = 1883;
                if (sscanf(hp + 3, "%63[^:/]:%d", host, &port) >= 1) {
                    snprintf(s->bhost, sizeof(s->bhost), "%s", host);
                    s->bport = port;
                }
            }
        }
        free(id);
        free(pw);
        free(mk);
        free(pre);
        free(url);
        free(r);
        if ((i + 1) % 1000 == 0) {
            printf("sim: enrolled %d (%.1f s)\n", i + 1, (double)(now_ms() - t) / 1000.0);
            fflush(stdout);
        }
    }
    printf("sim: enrolled %d devices in %.1f s\n", s->n, (double)(now_ms() - t) / 1000.0);
    save_state(s);
}

/* ---- MQTT 3.1.1 ---- */

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u16(struct buf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_put(b, x, 2);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    put_u16(b, (unsigned)n);
    buf_put(b, s, n);
}

/* Appends a packet: fixed header byte, remaining length, then body. */
static void put_packet(struct buf *out, uint8_t type, const struct buf *body)
{
    uint8_t h[5];
    size_t n = 0, rl = body->len;
    h[n++] = type;
    do {
        uint8_t byte = rl % 128;
        rl /= 128;
        h[n++] = byte | (rl ? 0x80 : 0);
    } while (rl);
    buf_put(out, h, n);
    buf_put(out, body->p, body->len);
}

static void dev_close(struct sim *s, struct dev *d);

static void flush(struct sim *s, struct dev *d)
{
    while (d->out.off < d->out.len) {
        ssize_t w = send(d->fd, d->out.p + d->out.off, d->out.len - d->out.off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            dev_close(s, d);
            return;
        }
        d->out.off += (size_t)w;
    }
    if (d->out.off == d->out.len) {
        d->out.off = d->out.len = 0;
    }
    bool want = d->out.len > 0;
    if (want != d->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = d};
        epoll_ctl(s->ep, EPOLL_CTL_MOD, d->fd, &ev);
        d->want_out = want;
    }
    d->last_tx = now_ms();
}

static void publish(struct dev *d, const char *topic, const char *payload, int qos, bool retain)
{
    struct buf b = {0};
    put_str(&b, topic, strlen(topic));
    if (qos) {
        if (++d->pkid == 0) {
            d->pkid = 1;
        }
        put_u16(&b, d->pkid);
    }
    buf_put(&b, payload, strlen(payload));
    put_packet(&d->out, (uint8_t)(0x30 | (qos << 1) | (retain ? 1 : 0)), &b);
    free(b.p);
}

static void state_doc(struct sim *s, struct dev *d, bool online, const char *result, char *out,
                      size_t len)
{
    char snap[80];
    if (*d->snapshot) {
        snprintf(snap, sizeof(snap), "\"%s\"", d->snapshot);
    } else {
        snprintf(snap, sizeof(snap), "null");
    }
    (void)s;
    snprintf(out, len,
             "{\"type\":\"state\",\"device\":\"%s\",\"online\":%s,\"ts\":%llu,\"version\":\"sim\","
             "\"snapshot\":%s,\"health\":\"%s\",\"result\":%s}",
             d->id, online ? "true" : "false", (unsigned long long)wall_ms(), snap,
             *d->snapshot ? "healthy" : "none", result ? result : "null");
}

static void send_state(struct sim *s, struct dev *d, const char *result)
{
    char topic[256], doc[1024];
    snprintf(topic, sizeof(topic), "%s/d/%s/state", s->prefix, d->id);
    state_doc(s, d, true, result, doc, sizeof(doc));
    publish(d, topic, doc, 1, true);
    s->states_out++;
}

static void dev_connect(struct sim *s, struct dev *d)
{
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (d->fd < 0) {
        die("socket: %s (raise ulimit -n)", strerror(errno));
    }
    int one = 1;
    setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->bport)};
    inet_pton(AF_INET, s->bhost, &a.sin_addr);
    if (connect(d->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        die("connect to the broker %s:%d: %s", s->bhost, s->bport, strerror(errno));
    }
    d->state = 1;
    d->in.len = d->out.len = d->out.off = 0;
    d->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = d};
    epoll_ctl(s->ep, EPOLL_CTL_ADD, d->fd, &ev);
    /* CONNECT: clean session, will = the retained offline state (QoS 1) */
    struct buf b = {0};
    char wt[256], will[1024];
    put_str(&b, "MQTT", 4);
    uint8_t lvl_flags[2] = {4, 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02};
    buf_put(&b, lvl_flags, 2);
    put_u16(&b, KEEPALIVE);
    put_str(&b, d->id, strlen(d->id));
    snprintf(wt, sizeof(wt), "%s/d/%s/state", s->prefix, d->id);
    state_doc(s, d, false, NULL, will, sizeof(will));
    put_str(&b, wt, strlen(wt));
    put_str(&b, will, strlen(will));
    put_str(&b, d->id, strlen(d->id));
    put_str(&b, d->token, strlen(d->token));
    put_packet(&d->out, 0x10, &b);
    free(b.p);
}

static void dev_close(struct sim *s, struct dev *d)
{
    if (d->fd >= 0) {
        epoll_ctl(s->ep, EPOLL_CTL_DEL, d->fd, NULL);
        close(d->fd);
    }
    if (d->state == 3) {
        s->connected--;
    }
    d->fd = -1;
    d->state = 0;
    s->disconnects++;
}

/* The CONNACK arrived: subscribe, say we are online, schedule heartbeats. */
static void on_connack(struct sim *s, struct dev *d, const uint8_t *p, size_t n)
{
    if (n < 2 || p[1] != 0) {
        fprintf(stderr, "sim: %s: CONNACK refused (code %d)\n", d->id, n >= 2 ? p[1] : -1);
        dev_close(s, d);
        return;
    }
    d->state = 3;
    s->connected++;
    struct buf b = {0};
    char t[256];
    put_u16(&b, 1);
    snprintf(t, sizeof(t), "%s/d/%s/desired", s->prefix, d->id);
    put_str(&b, t, strlen(t));
    uint8_t q = 1;
    buf_put(&b, &q, 1);
    snprintf(t, sizeof(t), "%s/d/%s/cmd", s->prefix, d->id);
    put_str(&b, t, strlen(t));
    buf_put(&b, &q, 1);
    put_packet(&d->out, 0x82, &b);
    free(b.p);
    d->pkid = 1;
    send_state(s, d, NULL);
    d->next_hb = now_ms() + (uint64_t)(randombytes_uniform((uint32_t)s->hb * 1000u) + 1);
}

static bool verify(struct sim *s, const char *payload, char **signed_out)
{
    char *sig64 = json_str(payload, "sig");
    char *doc = json_str(payload, "signed");
    unsigned char sig[crypto_sign_BYTES];
    size_t sl = 0;
    bool ok =
        sig64 && doc &&
        sodium_base642bin(sig, sizeof(sig), sig64, strlen(sig64), NULL, &sl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        sl == sizeof(sig) &&
        crypto_sign_verify_detached(sig, (const unsigned char *)doc, strlen(doc), s->mkey) == 0;
    free(sig64);
    if (!ok) {
        free(doc);
        return false;
    }
    *signed_out = doc;
    return true;
}

static void on_desired(struct sim *s, struct dev *d, const char *payload)
{
    char *doc;
    s->desired_in++;
    if (!verify(s, payload, &doc)) {
        s->desired_bad++;
        return;
    }
    char *type = json_str(doc, "type"), *dev = json_str(doc, "device");
    long long seq = 0;
    bool ok = type && dev && !strcmp(dev, d->id) && json_num(doc, "seq", &seq) && seq > d->seq;
    if (ok && !strcmp(type, "revoked")) {
        d->revoked = true;
        d->seq = seq;
    } else if (ok && !strcmp(type, "desired")) {
        const char *snap = strstr(doc, "\"snapshot\"");
        char *id = snap ? json_str(snap, "id") : NULL;
        if (id) {
            d->seq = seq;
            snprintf(d->snapshot, sizeof(d->snapshot), "%s", id);
            char result[256];
            snprintf(result, sizeof(result),
                     "{\"seq\":%lld,\"snapshot\":\"%s\",\"status\":\"applied\",\"reason\":null}",
                     seq, id);
            send_state(s, d, result);
            free(id);
        } else {
            s->desired_bad++;
        }
    } else {
        s->desired_bad++;
    }
    free(type);
    free(dev);
    free(doc);
}

static void on_cmd(struct sim *s, struct dev *d, const char *payload)
{
    char *doc;
    s->cmds_in++;
    if (!verify(s, payload, &doc)) {
        return;
    }
    char *id = json_str(doc, "id");
    if (id) {
        char topic[256], resp[512];
        snprintf(topic, sizeof(topic), "%s/d/%s/resp", s->prefix, d->id);
        snprintf(resp, sizeof(resp),
                 "{\"type\":\"resp\",\"device\":\"%s\",\"id\":\"%s\",\"ok\":true,\"result\":{}}",
                 d->id, id);
        publish(d, topic, resp, 1, false);
    }
    free(id);
    free(doc);
}

static void on_publish(struct sim *s, struct dev *d, uint8_t flags, const uint8_t *p, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t tl = (size_t)p[0] << 8 | p[1], off = 2 + tl;
    int qos = (flags >> 1) & 3;
    if (off + (qos ? 2 : 0) > n) {
        return;
    }
    char topic[256];
    snprintf(topic, sizeof(topic), "%.*s", (int)(tl < 255 ? tl : 255), (const char *)p + 2);
    if (qos) {
        uint8_t ack[4] = {0x40, 2, p[off], p[off + 1]};
        buf_put(&d->out, ack, 4);
        off += 2;
    }
    char *payload = malloc(n - off + 1);
    memcpy(payload, p + off, n - off);
    payload[n - off] = '\0';
    size_t l = strlen(topic);
    if (l > 8 && !strcmp(topic + l - 8, "/desired")) {
        on_desired(s, d, payload);
    } else if (l > 4 && !strcmp(topic + l - 4, "/cmd")) {
        on_cmd(s, d, payload);
    }
    free(payload);
}

static void on_readable(struct sim *s, struct dev *d)
{
    for (;;) {
        if (d->in.cap - d->in.len < 4096) {
            d->in.cap = d->in.cap ? d->in.cap * 2 : 8192;
            d->in.p = realloc(d->in.p, d->in.cap);
        }
        ssize_t r = recv(d->fd, d->in.p + d->in.len, d->in.cap - d->in.len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            dev_close(s, d);
            return;
        }
        if (r < 0) {
            break;
        }
        d->in.len += (size_t)r;
    }
    size_t off = 0;
    while (d->in.len - off >= 2) {
        size_t rl = 0, mul = 1, i = 1;
        bool complete = false;
        while (i < 5 && off + i < d->in.len) {
            uint8_t byte = d->in.p[off + i];
            rl += (byte & 127u) * mul;
            mul *= 128;
            i++;
            if (!(byte & 128)) {
                complete = true;
                break;
            }
        }
        if (!complete || d->in.len - off < i + rl) {
            break;
        }
        uint8_t h = d->in.p[off];
        const uint8_t *body = d->in.p + off + i;
        switch (h >> 4) {
        case 2: on_connack(s, d, body, rl); break;
        case 3: on_publish(s, d, h & 15, body, rl); break;
        default: break; /* PUBACK, SUBACK, PINGRESP */
        }
        if (d->fd < 0) {
            return;
        }
        off += i + rl;
    }
    memmove(d->in.p, d->in.p + off, d->in.len - off);
    d->in.len -= off;
    flush(s, d);
}

/* Heartbeats due, PINGREQ on idle connections, reconnects. */
static void tick(struct sim *s, uint64_t now)
{
    for (int i = 0; i < s->n; i++) {
        struct dev *d = &s->devs[i];
        if (d->state != 3 || d->revoked) {
            continue;
        }
        if (now >= d->next_hb) {
            char topic[256], doc[512];
            snprintf(topic, sizeof(topic), "%s/d/%s/hb", s->prefix, d->id);
            snprintf(doc, sizeof(doc),
                     "{\"type\":\"hb\",\"device\":\"%s\",\"ts\":%llu,\"uptime\":%llu,"
                     "\"snapshot\":%s%s%s,\"health\":\"%s\",\"cpu\":0.1,\"rss\":3000000,"
                     "\"msgs\":0,\"errors\":0}",
                     d->id, (unsigned long long)wall_ms(),
                     (unsigned long long)((now - d->started) / 1000), *d->snapshot ? "\"" : "",
                     *d->snapshot ? d->snapshot : "null", *d->snapshot ? "\"" : "",
                     *d->snapshot ? "healthy" : "none");
            publish(d, topic, doc, 0, false);
            s->hb_sent++;
            d->next_hb += (uint64_t)s->hb * 1000u;
            flush(s, d);
        } else if (now - d->last_tx > KEEPALIVE * 750u) {
            uint8_t ping[2] = {0xc0, 0};
            buf_put(&d->out, ping, 2);
            flush(s, d);
        }
    }
}

static void run_loop(struct sim *s, uint64_t until, int *next_connect, uint64_t *last_tick)
{
    struct epoll_event evs[256];
    while (now_ms() < until) {
        uint64_t now = now_ms();
        /* stagger connects: s->rate per second */
        while (*next_connect < s->n &&
               (uint64_t)*next_connect * 1000u / (uint64_t)s->rate <= now - s->t0) {
            struct dev *d = &s->devs[(*next_connect)++];
            d->started = now;
            dev_connect(s, d);
        }
        if (now - *last_tick >= 100) {
            tick(s, now);
            *last_tick = now;
        }
        int n = epoll_wait(s->ep, evs, 256, 20);
        for (int i = 0; i < n; i++) {
            struct dev *d = evs[i].data.ptr;
            if (d->fd < 0) {
                continue;
            }
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                if (d->state < 3) {
                    fprintf(stderr, "sim: %s: connection to the broker failed\n", d->id);
                }
                dev_close(s, d);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (d->state == 1) {
                    d->state = 2;
                }
                flush(s, d);
            }
            if (d->fd >= 0 && (evs[i].events & EPOLLIN)) {
                on_readable(s, d);
            }
        }
    }
}

/* utime + stime of pid in clock ticks; -1 when it is gone. */
static long long cpu_ticks(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return -1;
    }
    return (long long)(ut + st);
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

/*
 * What the manager shows of the group (GET /devices): how many devices are
 * online and how many were seen within two heartbeat periods.
 */
static void manager_view(struct sim *s, int *online, int *recent)
{
    char path[256];
    int st;
    snprintf(path, sizeof(path), "/fleet/v1/devices?group=%s", s->group);
    char *r = http(s, "GET", path, s->api_token, NULL, &st);
    *online = *recent = 0;
    if (!r || st != 200) {
        fprintf(stderr, "sim: GET %s: HTTP %d\n", path, st);
        free(r);
        return;
    }
    long long since = (long long)wall_ms() - 2000LL * s->hb;
    for (const char *p = strstr(r, "\"online\":true"); p; p = strstr(p + 1, "\"online\":true")) {
        (*online)++;
    }
    for (const char *p = strstr(r, "\"lastSeen\":"); p; p = strstr(p + 1, "\"lastSeen\":")) {
        if (strtoll(p + 11, NULL, 10) >= since) {
            (*recent)++;
        }
    }
    free(r);
}

/* Creates a snapshot and a rollout of it to the group; seconds until it completed (-1: not). */
static double do_rollout(struct sim *s, int *next_connect, uint64_t *last_tick, char *rid,
                         size_t rlen, char *final_state, size_t flen)
{
    char body[1024];
    int st;
    snprintf(body, sizeof(body),
             "{\"group\":\"%s\",\"description\":\"sim rollout %llu\",\"flows\":[{\"id\":\"t1\","
             "\"type\":\"tab\",\"label\":\"sim %llu\"}],\"env\":{}}",
             s->group, (unsigned long long)wall_ms(), (unsigned long long)wall_ms());
    char *r = http(s, "POST", "/fleet/v1/snapshots", s->api_token, body, &st);
    char *snap = r ? json_str(r, "id") : NULL;
    if ((st != 201 && st != 200) || !snap) {
        die("POST /fleet/v1/snapshots: HTTP %d %s", st, r ? r : "");
    }
    free(r);
    snprintf(body, sizeof(body),
             "{\"group\":\"%s\",\"snapshot\":\"%s\",\"strategy\":\"waves\",\"waves\":%s,"
             "\"healthSeconds\":1,\"failureBudget\":%d,\"waveTimeout\":120}",
             s->group, snap, s->waves, s->n / 100);
    free(snap);
    uint64_t t = now_ms();
    r = http(s, "POST", "/fleet/v1/rollouts", s->api_token, body, &st);
    char *id = r ? json_str(r, "id") : NULL;
    if ((st != 201 && st != 200) || !id) {
        die("POST /fleet/v1/rollouts: HTTP %d %s", st, r ? r : "");
    }
    snprintf(rid, rlen, "%s", id);
    free(id);
    free(r);
    char path[256];
    snprintf(path, sizeof(path), "/fleet/v1/rollouts/%s", rid);
    while (now_ms() - t < 300000) {
        run_loop(s, now_ms() + 500, next_connect, last_tick);
        r = http(s, "GET", path, s->api_token, NULL, &st);
        char *state = r ? json_str(r, "state") : NULL;
        if (!state && r) {
            state = json_str(r, "status");
        }
        free(r);
        if (state && strcmp(state, "running") != 0) {
            snprintf(final_state, flen, "%s", state);
            free(state);
            return (double)(now_ms() - t) / 1000.0;
        }
        free(state);
    }
    snprintf(final_state, flen, "timeout");
    return -1;
}

int main(int argc, char **argv)
{
    struct sim s = {.n = 10000,
                    .hb = 10,
                    .rate = 1000,
                    .settle = 15,
                    .seconds = 60,
                    .group = "sim",
                    .waves = "[1,\"10%\",\"50%\",\"100%\"]"};
    const char *manager = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
        if (ARG("--manager")) {
            manager = v;
        } else if (ARG("--manager-pid")) {
            s.manager_pid = atoi(v);
        } else if (ARG("--broker-pid")) {
            s.broker_pid = atoi(v);
        } else if (ARG("-n")) {
            s.n = atoi(v);
        } else if (ARG("--group")) {
            s.group = v;
        } else if (ARG("--api-token")) {
            s.api_token = v;
        } else if (ARG("--prov-token")) {
            snprintf(s.prov_token, sizeof(s.prov_token), "%s", v);
        } else if (ARG("--broker")) {
            if (sscanf(v, "%63[^:]:%d", s.bhost, &s.bport) != 2) {
                die("--broker HOST:PORT");
            }
        } else if (ARG("--hb")) {
            s.hb = atoi(v);
        } else if (ARG("--rate")) {
            s.rate = atoi(v);
        } else if (ARG("--settle")) {
            s.settle = atoi(v);
        } else if (ARG("--seconds")) {
            s.seconds = atoi(v);
        } else if (ARG("--state")) {
            s.state_path = v;
        } else if (ARG("--waves")) {
            s.waves = v;
        } else if (!strcmp(a, "--rollout")) {
            s.rollout = true;
        } else {
            die("unknown or incomplete argument %s (see the comment at the top of sim.c)", a);
        }
#undef ARG
    }
    static char mhost[64];
    int mport = 0;
    if (!manager || sscanf(manager, "http://%63[^:/]:%d", mhost, &mport) != 2 || s.n <= 0 ||
        s.hb <= 0 || s.rate <= 0 || s.manager_pid <= 0) {
        die("usage: sim --manager http://HOST:PORT --manager-pid PID [-n N] [options]");
    }
    s.mhost = mhost;
    s.mport = mport;
    if (sodium_init() < 0) {
        die("libsodium failed to initialise");
    }
    signal(SIGPIPE, SIG_IGN);
    s.devs = calloc((size_t)s.n, sizeof(*s.devs));
    for (int i = 0; i < s.n; i++) {
        s.devs[i].fd = -1;
    }
    enrol_all(&s);
    if (!*s.bhost) {
        die("no broker address: give --broker HOST:PORT");
    }
    s.ep = epoll_create1(0);
    s.t0 = now_ms();
    int next = 0;
    uint64_t last_tick = 0;
    /* connect everyone (staggered), then settle */
    while (s.connected < s.n && now_ms() - s.t0 < 120000) {
        run_loop(&s, now_ms() + 200, &next, &last_tick);
    }
    double connect_s = (double)(now_ms() - s.t0) / 1000.0;
    printf("sim: %ld/%d devices connected in %.1f s\n", s.connected, s.n, connect_s);
    fflush(stdout);
    if (s.connected < s.n) {
        die("only %ld of %d devices connected", s.connected, s.n);
    }
    run_loop(&s, now_ms() + (uint64_t)s.settle * 1000u, &next, &last_tick);
    /* the steady window */
    long hb0 = s.hb_sent;
    long long c0 = cpu_ticks(s.manager_pid), b0 = s.broker_pid ? cpu_ticks(s.broker_pid) : -1;
    uint64_t w0 = now_ms();
    run_loop(&s, w0 + (uint64_t)s.seconds * 1000u, &next, &last_tick);
    double win = (double)(now_ms() - w0) / 1000.0;
    long hb_win = s.hb_sent - hb0;
    long long c1 = cpu_ticks(s.manager_pid), b1 = s.broker_pid ? cpu_ticks(s.broker_pid) : -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (c0 < 0 || c1 < 0) {
        die("the manager (pid %d) is gone", s.manager_pid);
    }
    double mcpu = 100.0 * (double)(c1 - c0) / hz / win;
    double bcpu = b0 >= 0 && b1 >= 0 ? 100.0 * (double)(b1 - b0) / hz / win : -1;
    long mrss = rss_kb(s.manager_pid), brss = s.broker_pid ? rss_kb(s.broker_pid) : -1;
    printf("sim: steady %.0f s, %ld heartbeats (%.0f/s): manager %.2f%% of one core, RSS %.1f MB",
           win, hb_win, (double)hb_win / win, mcpu, (double)mrss / 1024.0);
    if (s.broker_pid) {
        printf("; broker %.2f%%, RSS %.1f MB", bcpu, (double)brss / 1024.0);
    }
    printf("\n");
    fflush(stdout);
    int seen_online = 0, seen_recent = 0;
    manager_view(&s, &seen_online, &seen_recent);
    printf("sim: the manager shows %d devices online, %d with a heartbeat in the last %d s\n",
           seen_online, seen_recent, 2 * s.hb);
    double roll_s = -1;
    char rid[128] = "", rstate[64] = "";
    long mrss_after = -1;
    if (s.rollout) {
        long d0 = s.desired_in;
        roll_s = do_rollout(&s, &next, &last_tick, rid, sizeof(rid), rstate, sizeof(rstate));
        mrss_after = rss_kb(s.manager_pid);
        printf("sim: rollout %s to %d devices: %s after %.1f s (%ld desired documents, %ld bad); "
               "manager RSS %.1f MB\n",
               rid, s.n, rstate, roll_s, s.desired_in - d0, s.desired_bad,
               (double)mrss_after / 1024.0);
    }
    printf("RESULT {\"devices\":%d,\"heartbeat_s\":%d,\"connect_s\":%.1f,\"window_s\":%.1f,"
           "\"heartbeats_per_s\":%.1f,\"manager_cpu_pct\":%.2f,\"manager_rss_kb\":%ld,"
           "\"broker_cpu_pct\":%.2f,\"broker_rss_kb\":%ld,\"disconnects\":%ld,"
           "\"desired_bad\":%ld,\"manager_online\":%d,\"manager_recent\":%d,\"rollout\":\"%s\","
           "\"rollout_state\":\"%s\",\"rollout_s\":%.1f,"
           "\"manager_rss_after_rollout_kb\":%ld}\n",
           s.n, s.hb, connect_s, win, (double)hb_win / win, mcpu, mrss, bcpu, brss, s.disconnects,
           s.desired_bad, seen_online, seen_recent, rid, rstate, roll_s, mrss_after);
    return 0;
}
