// WebSocket echo load generator for bench/compare.sh: one thread, epoll, hand-written RFC 6455 client framing, so
// that it drives thousands of connections on one core with room to spare (Python asyncio cannot; see RESULTS.md).
//
//   ws_loadgen --port P [--host 127.0.0.1] [--path /api/realtime-voice/echo] [--token T] --mode rate|saturate|idle
//              [--conns N] [--ramp-rate CONNS_PER_S] [--size BYTES] [--interval-ms MS] [--inflight K]
//              [--warmup S] [--window S] [--hold S] [--server-pid PID]
//
// rate      every connection sends one binary message of --size bytes each --interval-ms, on its own phase (the
//           connections' sends are spread evenly over the interval): open loop, like live audio.
// saturate  every connection keeps --inflight messages outstanding and sends the next as soon as one returns.
// idle      opens the connections, holds them --hold s, reads the server's RSS, then checks each one still echoes.
//
// Connections open at --ramp-rate per second; the measurement window (--window s) starts --warmup s after the last
// one opened. Each message carries CLOCK_MONOTONIC ns, the connection index and a sequence number in its first 16
// bytes; the rest is a fixed pattern that is checked on return. The round trip is measured per message.
// Over the window it reads the server's utime+stime and VmRSS from /proc/PID and its own CPU (getrusage), and
// prints one JSON object on stdout. It stops by itself: every phase is bounded in time.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HANDSHAKE, OPEN, CLOSED };
enum { MODE_RATE, MODE_SATURATE, MODE_IDLE };
#define HEADER_BYTES 16
#define SCRATCH (1 << 20)
#define STAGE (4 << 20)
#define MAX_BACKLOG (1 << 20) // bytes queued on one connection before rate mode skips a send

typedef struct {
    int fd, state, index;
    uint32_t seq;
    int inflight;
    int verified;          // idle mode: the check message came back
    uint8_t *in; size_t in_len, in_cap;     // a partial frame left over from the last read
    uint8_t *out; size_t out_len, out_off, out_cap; // bytes the socket did not take yet
    int want_out;
    int64_t connect_started;
} conn_t;

static struct {
    const char *host, *path, *token;
    int port, mode, conns, inflight, server_pid;
    double ramp_rate, warmup, window, hold;
    int size, interval_ms;
} opt = {"127.0.0.1", "/api/realtime-voice/echo", "bench", 0, MODE_RATE, 100, 4, 0, 200, 5, 20, 5, 3200, 100};

static int ep;
static conn_t *conns;
static uint8_t *pattern, *scratch, *stage;
static size_t stage_len;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

// Counters.
static long n_connected, n_connect_errors, n_handshake_errors, n_closed_by_server, n_eof, n_bad_echo, n_skipped;
static long n_open, n_pings, sent_window, received_window, received_in_window_time;
static int64_t win_start = INT64_MAX, win_end = INT64_MAX; // send stamps in [win_start, win_end) are measured
static uint32_t *rtts; static size_t rtt_len, rtt_cap;
static uint32_t *lags; static size_t lag_len, lag_cap;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static uint32_t rand32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)rng;
}

static void push(uint32_t **array, size_t *len, size_t *cap, uint32_t value) {
    if (*len == *cap) {
        if (*cap >= (64u << 20)) return; // 256 MB of samples at most
        *cap = *cap ? *cap * 2 : 1 << 16;
        *array = realloc(*array, *cap * sizeof(uint32_t));
        if (!*array) { perror("realloc"); exit(1); }
    }
    (*array)[(*len)++] = value;
}

static void ensure(uint8_t **buffer, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t next = *cap ? *cap : 4096;
    while (next < need) next *= 2;
    *buffer = realloc(*buffer, next);
    if (!*buffer) { perror("realloc"); exit(1); }
    *cap = next;
}

// The server's utime+stime in clock ticks, and its VmRSS in kB.
static long long server_ticks(void) {
    if (!opt.server_pid) return 0;
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strrchr(text, ')');
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    // After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return (long long)(utime + stime);
}

static long server_rss_kb(void) {
    if (!opt.server_pid) return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

// Busy and total jiffies of cores 0 and 1 (/proc/stat), to tell how much else ran on them.
static void core_ticks(long long busy[2], long long total[2]) {
    char line[512];
    FILE *f = fopen("/proc/stat", "r");
    busy[0] = busy[1] = total[0] = total[1] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        int cpu;
        long long v[8] = {0};
        if (sscanf(line, "cpu%d %lld %lld %lld %lld %lld %lld %lld %lld", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 9 && cpu >= 0 && cpu < 2) {
            long long sum = 0;
            for (int i = 0; i < 8; i++) sum += v[i];
            total[cpu] = sum;
            busy[cpu] = sum - v[3] - v[4];
        }
    }
    fclose(f);
}

// Nanoseconds the threads of process `pid` (0: this one) spent runnable but waiting for a CPU (schedstat run_delay):
// time the cores were taken by something else.
static long long run_delay_ns(int pid) {
    char path[128], line[128];
    snprintf(path, sizeof path, pid ? "/proc/%d/task" : "/proc/self/task", pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    long long sum = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.') continue;
        char file[512];
        snprintf(file, sizeof file, "%s/%s/schedstat", path, entry->d_name);
        FILE *f = fopen(file, "r");
        if (!f) continue;
        long long run = 0, delay = 0;
        if (fgets(line, sizeof line, f) && sscanf(line, "%lld %lld", &run, &delay) == 2) sum += delay;
        fclose(f);
    }
    closedir(dir);
    return sum;
}

static double self_cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void set_events(conn_t *c) {
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.u32 = (uint32_t)c->index};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void close_conn(conn_t *c) {
    if (c->state == CLOSED) return;
    if (c->state == OPEN) n_open--;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = CLOSED;
    free(c->in); free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->in_cap = c->out_len = c->out_off = c->out_cap = 0;
}

// Writes `len` bytes (or queues what the socket does not take).
static void send_bytes(conn_t *c, const uint8_t *data, size_t len) {
    if (c->state == CLOSED || len == 0) return;
    if (c->out_len == c->out_off) {
        ssize_t n = write(c->fd, data, len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { n_eof++; close_conn(c); return; }
            n = 0;
        }
        if ((size_t)n == len) return;
        data += n; len -= n;
        c->out_len = c->out_off = 0;
    }
    ensure(&c->out, &c->out_cap, c->out_len + len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (!c->want_out) { c->want_out = 1; set_events(c); }
}

static void flush_out(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            n_eof++; close_conn(c); return;
        }
        c->out_off += n;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) { c->want_out = 0; set_events(c); }
}

// Appends one masked client frame to `stage`.
static void stage_frame(int opcode, const uint8_t *payload, size_t len) {
    if (stage_len + len + 14 > STAGE) { n_bad_echo++; return; } // cannot happen with --inflight ≤ 64
    uint8_t *p = stage + stage_len;
    size_t h = 0;
    p[h++] = 0x80 | opcode;
    if (len < 126) p[h++] = 0x80 | len;
    else if (len < 65536) { p[h++] = 0x80 | 126; p[h++] = len >> 8; p[h++] = len & 0xff; }
    else { p[h++] = 0x80 | 127; for (int i = 7; i >= 0; i--) p[h++] = (uint64_t)len >> (8 * i); }
    uint32_t key = rand32();
    memcpy(p + h, &key, 4);
    h += 4;
    uint8_t *dst = p + h;
    uint64_t key64 = ((uint64_t)key << 32) | key;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) { uint64_t w; memcpy(&w, payload + i, 8); w ^= key64; memcpy(dst + i, &w, 8); }
    const uint8_t *k = (const uint8_t *)&key;
    for (; i < len; i++) dst[i] = payload[i] ^ k[i & 3];
    stage_len += h + len;
}

// Stages one measured message on `c` (not yet written).
static void stage_message(conn_t *c, int64_t now) {
    uint8_t *payload = pattern; // the header is written over the pattern's first bytes, then restored
    uint8_t saved[HEADER_BYTES];
    memcpy(saved, payload, HEADER_BYTES);
    uint32_t index = (uint32_t)c->index, seq = c->seq++;
    memcpy(payload, &now, 8);
    memcpy(payload + 8, &index, 4);
    memcpy(payload + 12, &seq, 4);
    stage_frame(2, payload, opt.size);
    memcpy(payload, saved, HEADER_BYTES);
    c->inflight++;
    if (now >= win_start && now < win_end) sent_window++;
}

static void flush_stage(conn_t *c) {
    send_bytes(c, stage, stage_len);
    stage_len = 0;
}

static void on_message(conn_t *c, int opcode, const uint8_t *payload, size_t len, int64_t now) {
    if (opcode == 9) { // ping: answer pong with the same payload
        n_pings++;
        stage_frame(10, payload, len);
        return;
    }
    if (opcode == 10) return;
    if (opcode == 8) { n_closed_by_server++; close_conn(c); return; }
    if (opcode != 2 || len != (size_t)opt.size) { n_bad_echo++; return; }
    int64_t stamp; uint32_t index;
    memcpy(&stamp, payload, 8);
    memcpy(&index, payload + 8, 4);
    if (index != (uint32_t)c->index || stamp > now || memcmp(payload + HEADER_BYTES, pattern + HEADER_BYTES, len - HEADER_BYTES)) {
        n_bad_echo++;
        return;
    }
    c->inflight--;
    if (opt.mode == MODE_IDLE) { c->verified = 1; return; }
    if (stamp >= win_start && stamp < win_end) {
        received_window++;
        int64_t rtt_us = (now - stamp) / 1000;
        push(&rtts, &rtt_len, &rtt_cap, rtt_us > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt_us);
    }
    if (now >= win_start && now < win_end) received_in_window_time++;
    if (opt.mode == MODE_SATURATE && now < win_end) stage_message(c, now);
}

// Parses the frames in buf[0..len); returns the bytes consumed.
static size_t parse_frames(conn_t *c, const uint8_t *buf, size_t len, int64_t now) {
    size_t pos = 0;
    while (c->state == OPEN && len - pos >= 2) {
        const uint8_t *p = buf + pos;
        int opcode = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t plen = p[1] & 0x7f;
        size_t h = 2;
        if (plen == 126) { if (len - pos < 4) break; plen = (p[2] << 8) | p[3]; h = 4; }
        else if (plen == 127) { if (len - pos < 10) break; plen = 0; for (int i = 0; i < 8; i++) plen = (plen << 8) | p[2 + i]; h = 10; }
        if (masked || !(p[0] & 0x80) || plen > (1u << 24)) { n_bad_echo++; close_conn(c); return len; }
        if (len - pos < h + plen) break;
        on_message(c, opcode, p + h, plen, now);
        pos += h + plen;
    }
    return pos;
}

static void on_readable(conn_t *c, int64_t now) {
    // The leftover partial frame goes first in the scratch buffer, then what the socket has.
    size_t have = c->in_len;
    if (have) memcpy(scratch, c->in, have);
    ssize_t n = read(c->fd, scratch + have, SCRATCH - have);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (c->state == HANDSHAKE) n_handshake_errors++; else n_eof++;
        close_conn(c);
        return;
    }
    if (n < 0) return;
    now = now_ns();
    size_t len = have + n, used = 0;
    if (c->state == HANDSHAKE) {
        uint8_t *end = memmem(scratch, len, "\r\n\r\n", 4);
        if (!end) {
            if (len > 8192) { n_handshake_errors++; close_conn(c); return; }
            ensure(&c->in, &c->in_cap, len); memcpy(c->in, scratch, len); c->in_len = len;
            return;
        }
        *end = 0;
        if (strncmp((char *)scratch, "HTTP/1.1 101", 12) || !strstr((char *)scratch, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
            n_handshake_errors++; close_conn(c); return;
        }
        c->state = OPEN;
        n_open++; n_connected++;
        used = (end - scratch) + 4;
        if (opt.mode == MODE_SATURATE && now < win_end) {
            for (int i = 0; i < opt.inflight; i++) stage_message(c, now);
        }
    }
    used += parse_frames(c, scratch + used, len - used, now);
    if (c->state == CLOSED) { stage_len = 0; return; }
    flush_stage(c);
    if (c->state == CLOSED) return;
    c->in_len = len - used;
    if (c->in_len) { ensure(&c->in, &c->in_cap, c->in_len); memmove(c->in, scratch + used, c->in_len); }
}

static char request[1024];
static size_t request_len;

static void start_connect(conn_t *c, struct sockaddr_in *addr, int64_t now) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { n_connect_errors++; c->state = CLOSED; c->fd = -1; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = CONNECTING;
    c->connect_started = now;
    if (connect(fd, (struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
        n_connect_errors++; close(fd); c->state = CLOSED; return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)c->index};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void on_connected(conn_t *c) {
    int err = 0; socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { n_connect_errors++; epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->state = CLOSED; return; }
    c->state = HANDSHAKE;
    c->want_out = 0;
    set_events(c);
    send_bytes(c, (const uint8_t *)request, request_len);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint32_t *v, size_t n, double p) {
    if (!n) return -1;
    size_t i = (size_t)(p / 100.0 * (n - 1) + 0.5);
    return v[i] / 1000.0; // µs → ms
}

static void usage(void) {
    fprintf(stderr, "usage: ws_loadgen --port P --mode rate|saturate|idle [--conns N] [--ramp-rate R] [--size B]\n"
                    "  [--interval-ms MS] [--inflight K] [--warmup S] [--window S] [--hold S] [--server-pid PID]\n"
                    "  [--host H] [--path /p] [--token T]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--token")) opt.token = v;
        else if (!strcmp(a, "--mode")) opt.mode = !strcmp(v, "rate") ? MODE_RATE : !strcmp(v, "saturate") ? MODE_SATURATE : !strcmp(v, "idle") ? MODE_IDLE : -1;
        else if (!strcmp(a, "--conns")) opt.conns = atoi(v);
        else if (!strcmp(a, "--ramp-rate")) opt.ramp_rate = atof(v);
        else if (!strcmp(a, "--size")) opt.size = atoi(v);
        else if (!strcmp(a, "--interval-ms")) opt.interval_ms = atoi(v);
        else if (!strcmp(a, "--inflight")) opt.inflight = atoi(v);
        else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(a, "--window")) opt.window = atof(v);
        else if (!strcmp(a, "--hold")) opt.hold = atof(v);
        else if (!strcmp(a, "--server-pid")) opt.server_pid = atoi(v);
        else usage();
        i++;
    }
    if (!opt.port || opt.mode < 0 || opt.conns < 1 || opt.conns > 60000 || opt.size < HEADER_BYTES || opt.size > 65536 ||
        opt.ramp_rate <= 0 || opt.interval_ms < 1 || opt.inflight < 1 || opt.inflight > 64 || opt.window <= 0 || opt.window > 600)
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    if ((rlim_t)opt.conns + 16 > lim.rlim_cur) {
        fprintf(stderr, "ws_loadgen: %d connections need more than the open-file limit %lu (ulimit -n)\n", opt.conns, (unsigned long)lim.rlim_cur);
        return 2;
    }
    rng ^= (uint64_t)now_ns() * 0x2545F4914F6CDD1Dull;

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) { fprintf(stderr, "ws_loadgen: --host must be an IPv4 address\n"); return 2; }
    request_len = snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\ntoken: %s\r\n\r\n",
        opt.path, opt.host, opt.port, opt.token);

    pattern = malloc(opt.size);
    for (int i = 0; i < opt.size; i++) pattern[i] = (uint8_t)(i * 31 + 7);
    scratch = malloc(SCRATCH);
    stage = malloc(STAGE);
    conns = calloc(opt.conns, sizeof(conn_t));
    for (int i = 0; i < opt.conns; i++) { conns[i].index = i; conns[i].fd = -1; conns[i].state = -1; }
    ep = epoll_create1(EPOLL_CLOEXEC);

    const int64_t start = now_ns();
    const int64_t ramp_ns = (int64_t)(opt.conns / opt.ramp_rate * 1e9);
    const int64_t connect_timeout = 10 * 1000000000ll;
    const int64_t period = (int64_t)opt.interval_ms * 1000000;
    long rss_before = server_rss_kb();
    long long ticks_before_connect = server_ticks();
    double cpu_start = self_cpu_s();

    // Phases: ramp (connect), warm-up, window, drain. The window starts `warmup` s after the ramp ends, or after
    // every connection has opened or failed, whichever comes first.
    int64_t ramp_done_at = 0, drain_until = INT64_MAX, hold_until = INT64_MAX, verify_until = INT64_MAX;
    const int64_t deadline = start + ramp_ns + (int64_t)((opt.warmup + opt.window + opt.hold + 60) * 1e9);
    int next_connect = 0;
    long long delay_server0 = 0, delay_server1 = 0, delay_self0 = 0, delay_self1 = 0;
    long long ticks_w0 = 0, ticks_w1 = 0, core_busy0[2] = {0}, core_total0[2] = {0}, core_busy1[2] = {0}, core_total1[2] = {0};
    double cpu_w0 = 0, cpu_w1 = 0, cpu_ramp = 0;
    long rss_w0 = 0, rss_w1 = 0, rss_peak = 0, rss_hold = 0;
    int64_t w0_wall = 0, w1_wall = 0;
    long open_at_window = 0;
    int64_t next_sample = INT64_MAX;
    uint64_t round = 0; int cursor = 0; // rate mode: the next scheduled send is (round, cursor)
    int verify_started = 0, timed_out = 0;
    struct epoll_event events[512];

    for (;;) {
        int64_t now = now_ns();
        if (now > deadline) { timed_out = 1; break; }
        // Open connections at the ramp rate.
        while (next_connect < opt.conns && now >= start + (int64_t)(next_connect / opt.ramp_rate * 1e9)) {
            start_connect(&conns[next_connect], &addr, now);
            next_connect++;
        }
        // Connections that did not finish the handshake in time.
        if (next_connect == opt.conns && !ramp_done_at) {
            long pending = 0;
            for (int i = 0; i < opt.conns; i++) {
                conn_t *c = &conns[i];
                if ((c->state == CONNECTING || c->state == HANDSHAKE) && now - c->connect_started > connect_timeout) {
                    if (c->state == CONNECTING) n_connect_errors++; else n_handshake_errors++;
                    if (c->state == CONNECTING) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->state = CLOSED; }
                    else close_conn(c);
                }
                if (c->state == CONNECTING || c->state == HANDSHAKE) pending++;
            }
            if (!pending) {
                ramp_done_at = now;
                cpu_ramp = self_cpu_s() - cpu_start;
                if (opt.mode == MODE_IDLE) {
                    hold_until = now + (int64_t)(opt.hold * 1e9);
                    ticks_w0 = server_ticks(); cpu_w0 = self_cpu_s(); w0_wall = now; open_at_window = n_open; core_ticks(core_busy0, core_total0); delay_server0 = run_delay_ns(opt.server_pid); delay_self0 = run_delay_ns(0);
                }
                else {
                    win_start = now + (int64_t)(opt.warmup * 1e9);
                    win_end = win_start + (int64_t)(opt.window * 1e9);
                }
            }
        }
        // Window edges and RSS samples.
        if (!w0_wall && opt.mode != MODE_IDLE && now >= win_start) {
            w0_wall = now; ticks_w0 = server_ticks(); cpu_w0 = self_cpu_s(); rss_w0 = server_rss_kb(); core_ticks(core_busy0, core_total0); delay_server0 = run_delay_ns(opt.server_pid); delay_self0 = run_delay_ns(0);
            rss_peak = rss_w0; open_at_window = n_open; next_sample = now + 1000000000;
        }
        if (w0_wall && now >= next_sample && !w1_wall) {
            long rss = server_rss_kb();
            if (rss > rss_peak) rss_peak = rss;
            next_sample += 1000000000;
        }
        if (!w1_wall && opt.mode != MODE_IDLE && now >= win_end) {
            w1_wall = now; ticks_w1 = server_ticks(); cpu_w1 = self_cpu_s(); rss_w1 = server_rss_kb(); core_ticks(core_busy1, core_total1); delay_server1 = run_delay_ns(opt.server_pid); delay_self1 = run_delay_ns(0);
            if (rss_w1 > rss_peak) rss_peak = rss_w1;
            drain_until = now + 2000000000;
        }
        if (opt.mode != MODE_IDLE && w1_wall && (now >= drain_until || received_window >= sent_window)) break;
        // Idle mode: after the hold, read the RSS, then one message on each connection must come back.
        if (opt.mode == MODE_IDLE && now >= hold_until && !verify_started) {
            verify_started = 1;
            rss_hold = server_rss_kb();
            ticks_w1 = server_ticks(); cpu_w1 = self_cpu_s(); w1_wall = now; core_ticks(core_busy1, core_total1); delay_server1 = run_delay_ns(opt.server_pid); delay_self1 = run_delay_ns(0);
            verify_until = now + 10 * 1000000000ll;
            for (int i = 0; i < opt.conns; i++) if (conns[i].state == OPEN) { stage_message(&conns[i], now); flush_stage(&conns[i]); }
        }
        if (verify_started) {
            long done = 0;
            for (int i = 0; i < opt.conns; i++) done += conns[i].verified || conns[i].state != OPEN;
            if (done == opt.conns || now >= verify_until) break;
        }
        // Rate mode: every due send, in phase order.
        int64_t next_due = INT64_MAX;
        if (opt.mode == MODE_RATE && (!w1_wall)) {
            for (;;) {
                int64_t due = start + (int64_t)round * period + (int64_t)cursor * period / opt.conns;
                if (due > now) { next_due = due; break; }
                conn_t *c = &conns[cursor];
                if (c->state == OPEN) {
                    if (c->out_len - c->out_off > MAX_BACKLOG) n_skipped++;
                    else {
                        int64_t t = now_ns();
                        if (t >= win_start && t < win_end) push(&lags, &lag_len, &lag_cap, (uint32_t)((t - due) / 1000));
                        stage_message(c, t);
                        flush_stage(c);
                    }
                }
                if (++cursor == opt.conns) { cursor = 0; round++; }
            }
        }
        // Sleep until the next thing to do.
        int64_t wake = deadline;
        if (next_connect < opt.conns) { int64_t t = start + (int64_t)(next_connect / opt.ramp_rate * 1e9); if (t < wake) wake = t; }
        if (next_due < wake) wake = next_due;
        if (!w0_wall && win_start < wake) wake = win_start;
        if (w0_wall && !w1_wall) { if (win_end < wake) wake = win_end; if (next_sample < wake) wake = next_sample; }
        if (drain_until < wake) wake = drain_until;
        if (hold_until < wake && !verify_started) wake = hold_until;
        if (next_connect == opt.conns && !ramp_done_at) { int64_t t = now + 100000000; if (t < wake) wake = t; }
        if (verify_started) { int64_t t = now + 100000000; if (t < wake) wake = t; }
        int64_t wait_ns = wake - now_ns();
        int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
        int n = epoll_wait(ep, events, 512, timeout);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        int64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            conn_t *c = &conns[events[i].data.u32];
            if (c->state == CLOSED) continue;
            if (c->state == CONNECTING) { on_connected(c); continue; }
            if (events[i].events & EPOLLOUT) flush_out(c);
            if (c->state != CLOSED && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c, t);
        }
    }

    long verified = 0;
    for (int i = 0; i < opt.conns; i++) verified += conns[i].verified;
    qsort(rtts, rtt_len, sizeof(uint32_t), cmp_u32);
    qsort(lags, lag_len, sizeof(uint32_t), cmp_u32);
    double window_s = (w1_wall - w0_wall) / 1e9;
    long clk = sysconf(_SC_CLK_TCK);
    double server_cpu = (ticks_w1 - ticks_w0) / (double)clk;
    double self_cpu = cpu_w1 - cpu_w0;
    const char *mode = opt.mode == MODE_RATE ? "rate" : opt.mode == MODE_SATURATE ? "saturate" : "idle";

    printf("{\"mode\":\"%s\",\"conns\":%d,\"size\":%d,\"interval_ms\":%d,\"inflight\":%d,\"timed_out\":%s,", mode, opt.conns, opt.size,
           opt.interval_ms, opt.inflight, timed_out ? "true" : "false");
    printf("\"connected\":%ld,\"open_at_window\":%ld,\"open_at_end\":%ld,\"connect_errors\":%ld,\"handshake_errors\":%ld,", n_connected, open_at_window, n_open,
           n_connect_errors, n_handshake_errors);
    printf("\"closed_by_server\":%ld,\"eof_errors\":%ld,\"bad_echo\":%ld,\"skipped_backpressure\":%ld,\"pings_answered\":%ld,", n_closed_by_server, n_eof,
           n_bad_echo, n_skipped, n_pings);
    printf("\"ramp_s\":%.2f,\"window_s\":%.3f,", ramp_done_at ? (ramp_done_at - start) / 1e9 : -1.0, window_s);
    printf("\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"echo_per_s\":%.1f,", sent_window, received_window, sent_window - received_window,
           window_s > 0 ? received_in_window_time / window_s : 0);
    printf("\"rtt_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},", pct(rtts, rtt_len, 50), pct(rtts, rtt_len, 90),
           pct(rtts, rtt_len, 99), pct(rtts, rtt_len, 99.9), rtt_len ? rtts[rtt_len - 1] / 1000.0 : -1);
    printf("\"send_lag_ms\":{\"p99\":%.3f,\"max\":%.3f},", pct(lags, lag_len, 99), lag_len ? lags[lag_len - 1] / 1000.0 : -1);
    printf("\"server_cpu_pct\":%.1f,\"server_rss_kb\":{\"before\":%ld,\"window_start\":%ld,\"window_end\":%ld,\"peak\":%ld,\"held\":%ld},",
           window_s > 0 ? 100 * server_cpu / window_s : -1, rss_before, rss_w0, rss_w1, rss_peak, rss_hold);
    printf("\"server_cpu_s_connect\":%.2f,", ticks_w0 >= ticks_before_connect && ticks_w0 ? (ticks_w0 - ticks_before_connect) / (double)clk : -1);
    double core_pct[2];
    for (int i = 0; i < 2; i++) {
        long long total = core_total1[i] - core_total0[i];
        core_pct[i] = total > 0 ? 100.0 * (core_busy1[i] - core_busy0[i]) / total : -1;
    }
    printf("\"core0_busy_pct\":%.1f,\"core1_busy_pct\":%.1f,", core_pct[0], core_pct[1]);
    printf("\"server_wait_pct\":%.1f,\"loadgen_wait_pct\":%.1f,", opt.server_pid && window_s > 0 ? 100 * (delay_server1 - delay_server0) / 1e9 / window_s : -1,
           window_s > 0 ? 100 * (delay_self1 - delay_self0) / 1e9 / window_s : -1);
    printf("\"verified\":%ld,\"loadgen_cpu_pct\":%.1f,\"loadgen_cpu_pct_ramp\":%.1f}\n", verified, window_s > 0 ? 100 * self_cpu / window_s : -1,
           ramp_done_at ? 100 * cpu_ramp / ((ramp_done_at - start) / 1e9) : -1);
    return 0;
}
