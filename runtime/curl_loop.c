/*
 * curl_loop.c - drives a libcurl multi handle from the libuv loop (see
 * curl_loop.h). Sockets: curl tells us which fds to watch and for what; a
 * uv_poll per fd reports readiness back through curl_multi_socket_action.
 * Timeouts: curl asks for one timer; when it fires we tell curl. Finished
 * transfers are collected with curl_multi_info_read after every action.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <edgeflow/log.h>

#include "curl_loop.h"

struct cl_sock {
    uv_poll_t poll;
    struct curl_loop *cl;
    curl_socket_t fd;
    struct cl_sock *next, *prev;
};

struct curl_loop {
    uv_loop_t *uv;
    CURLM *multi;
    uv_timer_t timer;
    curl_loop_done_fn done;
    struct cl_sock *socks; /* polls in use, for the teardown */
    int open_handles;      /* libuv handles not yet closed */
    bool freeing;
};

static void maybe_release(struct curl_loop *cl)
{
    if (cl->freeing && cl->open_handles == 0) {
        free(cl);
        curl_global_cleanup();
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct curl_loop *cl = h->data;
    if ((void *)h != (void *)&cl->timer) {
        free(h); /* a struct cl_sock: the poll handle is its first member */
    }
    cl->open_handles--;
    maybe_release(cl);
}

static void sock_close(struct cl_sock *s)
{
    struct curl_loop *cl = s->cl;
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        cl->socks = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    uv_poll_stop(&s->poll);
    s->poll.data = cl;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void check_done(struct curl_loop *cl)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        void *ud = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&ud);
        curl_multi_remove_handle(cl->multi, easy);
        cl->done(easy, rc, ud);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct cl_sock *s = (struct cl_sock *)p;
    struct curl_loop *cl = s->cl;
    int flags = 0;
    if (status < 0) {
        /* libuv reports POLLERR (a reset connection, say) as UV_EBADF: let curl
           read and write so it meets the socket's own error (ECONNRESET) */
        flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    int running;
    curl_multi_socket_action(cl->multi, s->fd, flags, &running);
    check_done(cl);
}

static void on_timer(uv_timer_t *t)
{
    struct curl_loop *cl = t->data;
    int running;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(cl);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct curl_loop *cl = userp;
    struct cl_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(cl->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) {
            return -1;
        }
        if (uv_poll_init_socket(cl->uv, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->cl = cl;
        s->fd = fd;
        s->next = cl->socks;
        if (cl->socks) {
            cl->socks->prev = s;
        }
        cl->socks = s;
        cl->open_handles++;
        curl_multi_assign(cl->multi, fd, s);
    }
    int ev = 0;
    ev |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    ev |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct curl_loop *cl = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&cl->timer);
    } else if (!cl->freeing) {
        uv_timer_start(&cl->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* Creates a curl multi handle whose sockets and timer live on `uv`. */
struct curl_loop *curl_loop__new(uv_loop_t *uv, curl_loop_done_fn done)
{
    char err[256];
    if (curl_api__load(err, sizeof(err)) != 0) {
        ef_log_error("%s", err);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return NULL;
    }
    struct curl_loop *cl = calloc(1, sizeof(*cl));
    if (!cl || !(cl->multi = curl_multi_init())) {
        free(cl);
        curl_global_cleanup();
        return NULL;
    }
    cl->uv = uv;
    cl->done = done;
    uv_timer_init(uv, &cl->timer);
    cl->timer.data = cl;
    cl->open_handles = 1;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    return cl;
}

/* Adds a configured easy handle; `ud` comes back in the done callback. */
int curl_loop__add(struct curl_loop *cl, CURL *easy, void *ud)
{
    curl_easy_setopt(easy, CURLOPT_PRIVATE, ud);
    return curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -1;
}

/* Removes a transfer that has not finished; its callback will not run. */
void curl_loop__remove(struct curl_loop *cl, CURL *easy)
{
    curl_multi_remove_handle(cl->multi, easy);
}

/* Cleans the multi handle up and closes the loop handles (see curl_loop.h). */
void curl_loop__free(struct curl_loop *cl)
{
    if (!cl) {
        return;
    }
    cl->freeing = true;
    curl_multi_cleanup(cl->multi);
    cl->multi = NULL;
    while (cl->socks) {
        sock_close(cl->socks);
    }
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, on_handle_closed);
}
