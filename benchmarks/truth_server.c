/* truth_server.c: an SSE server with known timing, independent of bench's own emulator.
 *
 * It streams Chat Completions (POST .../chat/completions) or Anthropic Messages
 * (POST .../messages) at a fixed rate: the first content chunk TTFT_MS after the request's
 * last byte was read, then one token per chunk every 1/TOKENS_PER_S seconds, on an absolute
 * schedule (no drift). Each content chunk is one write(2) holding one HTTP chunk.
 *
 * Ground truth: one JSON line per finished request in LOG, with CLOCK_MONOTONIC times in ns
 * (Python's time.perf_counter_ns reads the same clock on Linux): when the request was read
 * (received_ns) and when each content chunk's write returned (chunk_ns). The line has the
 * fields bench.calibrate.read_chunk_log joins on (request_id = the id the client sees).
 *
 * One thread: epoll for sockets, a timerfd armed at the earliest due chunk (absolute time,
 * 1 ns timer slack) for the schedule. Build: cc -O2 -o truth_server truth_server.c
 * Run:   truth_server --port 0 --ttft-ms 50 --tokens-per-s 800 --log chunks.jsonl
 * It prints "listening PORT" once ready and exits cleanly on SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define IN_CAP 262144

enum dialect { CHAT, MESSAGES };

struct conn {
    int fd;
    char in[IN_CAP];
    size_t in_len;
    int streaming;      /* a response is being streamed */
    enum dialect dialect;
    long id;            /* request number: the ids the client sees derive from it */
    int usage;          /* chat: send a usage chunk (stream_options.include_usage) */
    int total, sent;    /* content chunks to send / sent */
    int64_t received_ns, headers_ns, first_due_ns;
    int64_t *chunk_ns;  /* write time of each content chunk */
};

static struct conn *conns[MAX_CONNS]; /* by fd */
static int max_fd;
static double ttft_ms = 50.0, tokens_per_s = 800.0;
static int default_tokens = 100;
static FILE *log_file;
static long next_id = 1;
static volatile sig_atomic_t stopping;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig) { (void)sig; stopping = 1; }

/* Write all of buf (blocking socket); 0 on success, -1 when the client is gone. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Wrap an SSE event in one HTTP/1.1 chunk: "<hex len>\r\n<event>\r\n". */
static int chunk(char *out, size_t cap, const char *event) {
    size_t len = strlen(event);
    return snprintf(out, cap, "%zx\r\n%s\r\n", len, event);
}

static void close_conn(struct conn *c) {
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->chunk_ns);
    free(c);
}

static void request_id(const struct conn *c, char *out, size_t cap) {
    if (c->dialect == CHAT) snprintf(out, cap, "chatcmpl-truth-%ld", c->id);
    else snprintf(out, cap, "msg_truth_%ld", c->id);
}

static void log_request(const struct conn *c, int64_t end_ns) {
    char id[64];
    request_id(c, id, sizeof id);
    fprintf(log_file, "{\"request_id\":\"%s\",\"dialect\":\"%s\",\"received_ns\":%lld,\"headers_sent_ns\":%lld,"
            "\"n_content_chunks\":%d,\"first_content_ns\":%lld,\"last_content_ns\":%lld,\"end_ns\":%lld,"
            "\"completed\":%s,\"chunk_ns\":[",
            id, c->dialect == CHAT ? "chat" : "messages", (long long)c->received_ns, (long long)c->headers_ns,
            c->sent, (long long)(c->sent ? c->chunk_ns[0] : 0), (long long)(c->sent ? c->chunk_ns[c->sent - 1] : 0),
            (long long)end_ns, c->sent == c->total ? "true" : "false");
    for (int i = 0; i < c->sent; i++) fprintf(log_file, i ? ",%lld" : "%lld", (long long)c->chunk_ns[i]);
    fputs("]}\n", log_file);
    fflush(log_file);
}

/* --------------------------------------------------------------- the response */

/* Headers and the opening events, at once; -1 when the client is gone (c is freed). */
static int start_response(struct conn *c) {
    char id[64], event[1024], buf[4096];
    request_id(c, id, sizeof id);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                     "x-request-id: req_truth_%ld\r\n\r\n", c->id);
    if (c->dialect == CHAT) {
        snprintf(event, sizeof event,
                 "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"truth\","
                 "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n", id);
        n += chunk(buf + n, sizeof buf - n, event);
    } else {
        snprintf(event, sizeof event,
                 "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"%s\",\"type\":\"message\","
                 "\"role\":\"assistant\",\"content\":[],\"model\":\"truth\",\"stop_reason\":null,\"stop_sequence\":null,"
                 "\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
                 "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                 "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                 "event: ping\ndata: {\"type\": \"ping\"}\n\n", id);
        n += chunk(buf + n, sizeof buf - n, event);
    }
    c->streaming = 1;
    c->sent = 0;
    c->chunk_ns = realloc(c->chunk_ns, sizeof(int64_t) * (size_t)(c->total > 0 ? c->total : 1));
    c->first_due_ns = c->received_ns + (int64_t)(ttft_ms * 1e6);
    if (write_all(c->fd, buf, (size_t)n) < 0) { close_conn(c); return -1; }
    c->headers_ns = now_ns();
    return 0;
}

static int64_t due_ns(const struct conn *c) {
    return c->first_due_ns + (int64_t)((double)c->sent * 1e9 / tokens_per_s);
}

/* Send the next content chunk; after the last, the closing events and the body's end. */
static void send_next(struct conn *c) {
    char id[64], event[1024], buf[2048];
    request_id(c, id, sizeof id);
    if (c->dialect == CHAT)
        snprintf(event, sizeof event,
                 "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"truth\","
                 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"},\"finish_reason\":null}]}\n\n", id);
    else
        snprintf(event, sizeof event,
                 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                 "\"delta\":{\"type\":\"text_delta\",\"text\":\" tok\"}}\n\n");
    int n = chunk(buf, sizeof buf, event);
    if (write_all(c->fd, buf, (size_t)n) < 0) { log_request(c, now_ns()); close_conn(c); return; }
    c->chunk_ns[c->sent++] = now_ns();
    if (c->sent < c->total) return;

    if (c->dialect == CHAT) {
        n = snprintf(event, sizeof event,
                     "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"truth\","
                     "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", id);
        if (c->usage)
            snprintf(event + n, sizeof event - n,
                     "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"truth\","
                     "\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
                     id, c->total, c->total + 10);
        strcat(event, "data: [DONE]\n\n");
    } else {
        snprintf(event, sizeof event,
                 "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                 "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\","
                 "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n"
                 "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", c->total);
    }
    n = chunk(buf, sizeof buf, event);
    n += snprintf(buf + n, sizeof buf - n, "0\r\n\r\n");
    int gone = write_all(c->fd, buf, (size_t)n) < 0;
    log_request(c, now_ns());
    c->streaming = 0;
    if (gone) close_conn(c);
}

/* --------------------------------------------------------------- the request */

static int json_int(const char *body, const char *key, int fallback) {
    const char *p = strstr(body, key);
    if (!p) return fallback;
    p = strchr(p + strlen(key), ':');
    return p ? atoi(p + 1) : fallback;
}

/* A whole small answer; -1 when the client is gone (c is freed). */
static int reply_simple(struct conn *c, const char *status, const char *body) {
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
                     status, strlen(body), body);
    if (write_all(c->fd, buf, (size_t)n) < 0) { close_conn(c); return -1; }
    return 0;
}

/* Parse every complete request in the input buffer (one at a time: a client waits for a
 * streamed response before it sends the next on the same connection). */
static void handle_input(struct conn *c, int64_t read_ns) {
    while (!c->streaming) {
        c->in[c->in_len] = '\0';
        char *end = strstr(c->in, "\r\n\r\n");
        if (!end) return;
        size_t head = (size_t)(end - c->in) + 4;
        size_t length = 0;
        for (char *line = strstr(c->in, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
            if (strncasecmp(line + 2, "content-length:", 15) == 0) length = strtoul(line + 17, NULL, 10);
        if (head + length > IN_CAP - 1) {
            if (reply_simple(c, "413 Payload Too Large", "{}") == 0) close_conn(c);
            return;
        }
        if (c->in_len < head + length) return;
        char method[8] = "", path[512] = "";
        sscanf(c->in, "%7s %511s", method, path);
        char saved = c->in[head + length];
        c->in[head + length] = '\0';
        const char *body = c->in + head;
        size_t plen = strlen(path);
        int is_chat = plen >= 17 && strcmp(path + plen - 17, "/chat/completions") == 0;
        int is_messages = plen >= 9 && strcmp(path + plen - 9, "/messages") == 0;
        int gone;
        if (strcmp(method, "GET") == 0 && plen >= 7 && strcmp(path + plen - 7, "/models") == 0) {
            gone = reply_simple(c, "200 OK", "{\"object\":\"list\",\"data\":[{\"id\":\"truth\",\"object\":\"model\",\"type\":\"model\"}]}");
        } else if (strcmp(method, "POST") == 0 && (is_chat || is_messages)) {
            c->dialect = is_chat ? CHAT : MESSAGES;
            c->id = next_id++;
            c->received_ns = read_ns;
            int tokens = json_int(body, "\"max_completion_tokens\"", json_int(body, "\"max_tokens\"", default_tokens));
            c->total = tokens > 0 ? tokens : 1;
            c->usage = strstr(body, "\"include_usage\":true") != NULL || strstr(body, "\"include_usage\": true") != NULL;
            gone = start_response(c);
        } else {
            gone = reply_simple(c, "404 Not Found", "{\"error\":{\"message\":\"no such path\",\"type\":\"not_found\"}}");
        }
        if (gone) return;
        c->in[head + length] = saved;
        memmove(c->in, c->in + head + length, c->in_len - head - length);
        c->in_len -= head + length;
    }
}

/* --------------------------------------------------------------- the loop */

int main(int argc, char **argv) {
    int port = 0;
    const char *log_path = "truth-chunks.jsonl";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ttft-ms")) ttft_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens-per-s")) tokens_per_s = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens")) default_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--log")) log_path = argv[i + 1];
        else { fprintf(stderr, "truth_server: unknown option %s\n", argv[i]); return 2; }
    }
    if (tokens_per_s <= 0 || ttft_ms < 0) { fprintf(stderr, "truth_server: bad timing\n"); return 2; }
    log_file = fopen(log_path, "a");
    if (!log_file) { perror(log_path); return 2; }
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups at the due time, not up to 50 µs later */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 1024) < 0) { perror("bind"); return 2; }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);

    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    printf("listening %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event events[256];
    while (!stopping) {
        /* Everything due now goes out, then the timer is armed for the earliest next chunk. */
        int64_t now = now_ns(), earliest = 0;
        for (int fd = 0; fd <= max_fd; fd++) {
            struct conn *c = conns[fd];
            while (c && c->streaming && due_ns(c) <= now) {
                send_next(c);
                c = conns[fd];
                now = now_ns();
            }
            if (c && c->streaming && (!earliest || due_ns(c) < earliest)) earliest = due_ns(c);
        }
        struct itimerspec when = {0};
        if (earliest) {
            when.it_value.tv_sec = earliest / 1000000000;
            when.it_value.tv_nsec = earliest % 1000000000;
        }
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &when, NULL);

        int n = epoll_wait(ep, events, 256, -1);
        int64_t woke_ns = now_ns();
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0) { /* already re-armed */ }
            } else if (fd == lfd) {
                int cfd = accept(lfd, NULL, NULL);
                if (cfd < 0) continue;
                if (cfd >= MAX_CONNS) { close(cfd); continue; }
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[cfd] = calloc(1, sizeof(struct conn));
                if (cfd > max_fd) max_fd = cfd;
                conns[cfd]->fd = cfd;
                ev.data.fd = cfd;
                epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
            } else if (conns[fd]) {
                struct conn *c = conns[fd];
                ssize_t got = recv(fd, c->in + c->in_len, IN_CAP - 1 - c->in_len, MSG_DONTWAIT);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    if (c->streaming) log_request(c, woke_ns);
                    close_conn(c);
                    continue;
                }
                if (got < 0) continue;
                c->in_len += (size_t)got;
                /* The request was read when recv returned its last bytes. */
                handle_input(c, now_ns());
            }
        }
    }
    fclose(log_file);
    return 0;
}
