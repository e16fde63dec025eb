/*
 * ticker.c - the example C plugin (docs/plugins.md walks through it). It
 * registers "example-ticker": a node with properties, a timer and an output.
 * Every `interval` seconds it sends {topic, payload: <count>}; it stops after
 * `limit` messages (0: never). A message with payload "reset" sets the count
 * back to 0. The count is shown as the node's status.
 *
 * Build it against the public SDK only (runtime/include), as a shared object
 * without the lib prefix, and drop it into a plugin directory:
 *   cc -shared -fPIC -I<edgeflow>/runtime/include -o ticker.so ticker.c
 */
#include <stdio.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

/* Per-instance state: the runtime zeroes it and fills the property fields. */
struct ticker {
    double interval; /* seconds, from the property table */
    const char *topic;
    int64_t limit;
    double count;
    struct ef_timer *timer; /* owned by the node; freed with it */
};

/* One row per property: the runtime applies defaults, validates and stores them. */
static const struct ef_prop ticker_props[] = {
    {EF_PROP_NUM, "interval", "1", false, "seconds between messages",
     offsetof(struct ticker, interval)},
    {EF_PROP_STR, "topic", "\"tick\"", false, "msg.topic of each message",
     offsetof(struct ticker, topic)},
    {EF_PROP_INT, "limit", "0", false, "stop after this many messages (0: never)",
     offsetof(struct ticker, limit)},
    {EF_PROP_END},
};

static void show_count(struct ef_node *n, struct ticker *t)
{
    char text[32];
    ef_num_format(t->count, text);
    ef_node_status(n, "green", "dot", text);
}

/* Timer callback: runs on the loop thread, like every node callback. */
static void on_tick(struct ef_node *n, void *arg)
{
    struct ticker *t = arg;
    if (t->limit > 0 && t->count >= (double)t->limit) {
        ef_timer_stop(t->timer);
        return;
    }
    struct ef_msg *m = ef_msg_new();
    if (!m) {
        return;
    }
    t->count++;
    ef_msg_set_take(m, "topic", ef_val_str(t->topic));
    ef_msg_set_take(m, "payload", ef_val_num(t->count));
    if (ef_node_send(n, 0, m) != 0) { /* on failure we still own the message */
        ef_msg_free(m);
    }
    show_count(n, t);
}

static int cb_ticker_init(struct ef_node *n, const struct ef_val *config)
{
    struct ticker *t = ef_node_priv(n);
    (void)config;
    if (t->interval <= 0) {
        ef_node_error(n, NULL, "interval must be positive, got %g", t->interval);
        return EF_EINVAL; /* the flow is refused with this message */
    }
    t->timer = ef_timer_new(n, on_tick, t);
    return t->timer ? 0 : EF_ENOMEM;
}

/* Start ticking only once the whole flow set runs. */
static void cb_ticker_start(struct ef_node *n)
{
    struct ticker *t = ef_node_priv(n);
    uint64_t ms = (uint64_t)(t->interval * 1000);
    ef_timer_start(t->timer, ms, ms);
    show_count(n, t);
}

/* We own msg: free it (or send it on) exactly once. */
static int cb_ticker_input(struct ef_node *n, struct ef_msg *msg)
{
    struct ticker *t = ef_node_priv(n);
    const struct ef_val *p = ef_msg_get(msg, "payload");
    if (ef_val_type(p) == EF_STR && !strcmp(ef_val_str_get(p), "reset")) {
        t->count = 0;
        show_count(n, t);
        uint64_t ms = (uint64_t)(t->interval * 1000);
        ef_timer_start(t->timer, ms, ms);
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static const struct ef_node_type ticker_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "example-ticker",
    .description = "Sends a count every interval seconds (example C plugin)",
    .category = "examples",
    .inputs = 1,
    .outputs = 1,
    .props = ticker_props,
    .priv_size = sizeof(struct ticker),
    .cb_init = cb_ticker_init,
    .cb_start = cb_ticker_start,
    .cb_input = cb_ticker_input,
    /* no cb_close: the runtime frees the node's timers after it closes */
};

/* Picks the runtime's ABI version if this build supports it. */
EF_PLUGIN_VERSION_CURRENT

/* Registers the plugin's types; a failure here unloads the plugin cleanly. */
int ef_plugin_init(struct ef_plugin *p)
{
    return ef_register_type(p, &ticker_type);
}
