/*
 * heapctl.c - the store management tool.
 *
 *   heapctl [-m MOUNTPOINT | --store STORE_DIR] [--json] COMMAND [ARGS]
 *
 * The command line is read against the command table (cmd.h): the first
 * word that is not an option names the command; the words after it fill
 * its arguments in order and its options anywhere; heapctl's own options
 * (-m, --store, --json, --help) go anywhere on the line; `--` ends
 * options.  --help and COMMAND --help are printed from the same table.
 *
 * Through a mount, heapctl writes the request to MNT/.heapfs/ctl and reads
 * the response (the daemon runs it with cmd_exec()); with --store it opens
 * an unmounted store and runs the same cmd_exec() itself.  This file is
 * two programs: heapctl (HEAPCTL_CLIENT) links no store, so it starts in
 * 1 ms, not 4 (RocksDB's start-up), and for --store it runs heapctl-store,
 * this file linked with the store, from its own directory.  The mount is
 * -m, else $HEAPFS_MOUNT, else the current directory or the nearest parent
 * holding .heapfs/ctl.  Results print through the command's printer, or
 * as the response's JSON with --json; a command with a client runner
 * (cmd_def.client) does all of that its own way.  Every error prints
 * `heapctl: <what>: <why>` and exits 1; a mistyped command line adds a
 * usage line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

#define NO_MOUNT "no heapfs mount here: give -m MOUNTPOINT, set HEAPFS_MOUNT, or --store STORE_DIR"
#define SYNOPSIS "heapctl [-m MOUNTPOINT | --store STORE_DIR] [--json] COMMAND [ARGS]"
#define HELP_COLUMN 24   /* where help text starts in --help's two columns */

/* heapctl's own options, accepted anywhere on the line. */
enum global_id { G_MOUNT, G_STORE, G_JSON, G_HELP };

static const struct global_opt {
	enum global_id id;
	const char *opt, *alias, *metavar, *help;
} globals[] = {
	{ G_MOUNT, "-m", NULL, "MOUNTPOINT",
	  "the mount to talk to (else $HEAPFS_MOUNT, else the current directory's)" },
	{ G_STORE, "--store", NULL, "STORE_DIR",
	  "open an unmounted store and run the command in-process" },
	{ G_JSON, "--json", NULL, NULL, "print the response as JSON" },
	{ G_HELP, "--help", "-h", NULL, "this help; heapctl COMMAND --help shows a command's" },
};

/* ---- help ------------------------------------------------------------ */

/* Append to @buf (of @cap bytes, *@len used), truncating quietly. */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	*len = n < 0 ? cap : *len + (size_t)n;
}

/* "checkpoint HEAP [--label L]": the command as typed. */
static const char *synopsis(const cmd_def *def, char *buf, size_t cap)
{
	size_t len = 0;

	append(buf, cap, &len, "%s", def->name);
	for (const cmd_arg *a = def->args; !CMD_ARG_END(a); a++) {
		const char *open = a->required ? "" : "[", *close = a->required ? "" : "]";

		if (!a->opt)
			append(buf, cap, &len, " %s%s%s", open, a->metavar, close);
		else if (!a->metavar)
			append(buf, cap, &len, " %s%s%s", open, a->opt, close);
		else
			append(buf, cap, &len, " %s%s %s%s", open, a->opt, a->metavar, close);
	}
	return buf;
}

/*
 * "  LEFT    help", LEFT on a line of its own when it is wide, and the
 * help (@prefix, then @help) folded at spaces to fit 80 columns.
 */
static void help_row(FILE *to, const char *left, const char *prefix, const char *help)
{
	char text[1024];
	const char *p = text;

	snprintf(text, sizeof(text), "%s%s", prefix, help);
	if (strlen(left) > HELP_COLUMN - 4)   /* two blanks at least before the help */
		fprintf(to, "  %s\n%*s", left, HELP_COLUMN, "");
	else
		fprintf(to, "  %-*s", HELP_COLUMN - 2, left);
	for (;;) {
		size_t n = strlen(p), room = 80 - HELP_COLUMN;

		if (n > room) {   /* the last space that fits, else the first one */
			for (n = room; n > 0 && p[n] != ' '; n--)
				;
			if (n == 0 && !(n = strcspn(p, " ")))
				n = strlen(p);
		}
		fprintf(to, "%.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		fprintf(to, "%*s", HELP_COLUMN, "");
	}
}

static void usage(FILE *to)
{
	const cmd_def *defs;
	size_t n;
	char left[512];

	fprintf(to, "usage: " SYNOPSIS "\n\n"
		"heapctl's options go anywhere on the line, a command's anywhere after its name;\n"
		"-- ends options.\n");
	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		const struct global_opt *g = &globals[i];

		snprintf(left, sizeof(left), "%s%s%s%s%s", g->alias ? g->alias : "",
			 g->alias ? ", " : "", g->opt, g->metavar ? " " : "",
			 g->metavar ? g->metavar : "");
		help_row(to, left, "", g->help);
	}
	fprintf(to, "\ncommands:\n");
	defs = cmd_list(&n);
	for (size_t i = 0; i < n; i++)
		help_row(to, synopsis(&defs[i], left, sizeof(left)), "", defs[i].help);
}

static void command_usage(FILE *to, const cmd_def *def)
{
	char left[512];

	fprintf(to, "usage: heapctl %s\n%s\n", synopsis(def, left, sizeof(left)), def->help);
	if (!CMD_ARG_END(def->args))
		fputc('\n', to);
	for (const cmd_arg *a = def->args; !CMD_ARG_END(a); a++) {
		if (!a->opt)
			help_row(to, a->metavar, "the ", a->help);
		else if (!a->metavar)
			help_row(to, a->opt, "", a->help);
		else if (snprintf(left, sizeof(left), "%s %s", a->opt, a->metavar) > 0)
			help_row(to, left, "", a->help);
	}
	fprintf(to, "\nheapctl's options go here too: -m MOUNTPOINT, --store STORE_DIR, --json\n");
}

/* ---- the command line ------------------------------------------------ */

struct line {
	const cmd_def *def;           /* NULL until the command's name is read */
	json_t *req;                  /* {"cmd": name, ...fields} */
	const char *heap;             /* the word "heap" came from, for <what> */
	const char *word;             /* the command's name as typed */
	size_t n_pos;                 /* positionals the command took */
	bool help;
	bool store_seen;
	char why[512];                /* the first error, "" for none */
	bool usage_err;               /* a mistyped line: add a usage line */
};

static void line_err(struct line *l, bool usage_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line_err(struct line *l, bool usage_err, const char *fmt, ...)
{
	va_list ap;

	if (l->why[0])
		return;   /* the first one is what went wrong; the rest follow from it */
	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
	l->usage_err = usage_err;
}

/* The text of @a's value into the request, converted as its kind says. */
static void arg_value(struct line *l, const cmd_arg *a, const char *text)
{
	json_t *v = NULL;
	uint64_t n;
	char *end;

	switch (a->kind) {
	case CMD_FLAG:
		v = json_true();
		break;
	case CMD_SIZE:
		if (cmd_size_parse(text, &n) < 0 || n > (uint64_t)INT64_MAX) {
			line_err(l, false, "%s: not a size (a number with K, M, G or T)", text);
			return;
		}
		v = json_integer((json_int_t)n);
		break;
	case CMD_VERSION:   /* digits become a number, anything else a label */
		n = strtoull(text, &end, 10);
		if (*text >= '0' && *text <= '9' && !*end && n > 0 && n <= INT64_MAX)
			v = json_integer((json_int_t)n);
		else
			v = json_string(text);
		break;
	case CMD_STRING:
		v = json_string(text);
		break;
	case CMD_GLOBAL:
		return;
	}
	if (strcmp(a->key, "heap") == 0)
		l->heap = text;
	/* Text that is not UTF-8 cannot travel in JSON (nor is it a valid name). */
	if (!v) {
		line_err(l, false, "%s: not UTF-8 text", a->metavar ? a->metavar : a->opt);
		return;
	}
	json_object_set_new(l->req, a->key, v);
}

static void positional(struct line *l, const char *word)
{
	const cmd_arg *a;
	size_t k = 0;

	if (!l->word) {
		l->word = word;
		if (!(l->def = cmd_find(word)))
			return;
		l->req = json_pack("{s:s}", "cmd", word);
		return;
	}
	if (!l->def)
		return;
	for (a = l->def->args; !CMD_ARG_END(a); a++) {
		if (!a->opt && k++ == l->n_pos)
			break;
	}
	if (CMD_ARG_END(a)) {
		line_err(l, true, "unexpected argument '%s'", word);
		return;
	}
	l->n_pos++;
	arg_value(l, a, word);
}

/* Is @word (its name @len bytes long, before any '=') the option @opt? */
static bool opt_is(const char *word, size_t len, const char *opt)
{
	return opt && strlen(opt) == len && strncmp(word, opt, len) == 0;
}

static const struct global_opt *global_find(const char *word, size_t len)
{
	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		if (opt_is(word, len, globals[i].opt) || opt_is(word, len, globals[i].alias))
			return &globals[i];
	}
	return NULL;
}

/*
 * An option at argv[*i]: heapctl's own or the command's, its value
 * `--opt=VALUE` or the next word (taken whatever it looks like, as
 * getopt does).  Before the command's name only heapctl's are known.
 */
static void option(struct line *l, cmd_session *ses, int argc, char **argv, int *i)
{
	const char *word = argv[*i], *eq = word[1] == '-' ? strchr(word, '=') : NULL;
	size_t len = eq ? (size_t)(eq - word) : strlen(word);
	const struct global_opt *g = global_find(word, len);
	const char *val = eq ? eq + 1 : NULL, *metavar;
	const cmd_arg *a = NULL;

	if (g) {
		metavar = g->metavar;
	} else {
		for (a = l->def ? l->def->args : NULL; a && !CMD_ARG_END(a); a++) {
			if (a->kind != CMD_GLOBAL && opt_is(word, len, a->opt))
				break;
		}
		if (!a || CMD_ARG_END(a)) {
			line_err(l, true, "unknown option '%.*s'", (int)len, word);
			return;
		}
		metavar = a->metavar;
	}
	if (!metavar && val) {
		line_err(l, true, "option '%.*s' takes no value", (int)len, word);
		return;
	}
	if (metavar && !val) {
		if (*i + 1 >= argc) {
			line_err(l, true, "option '%s' needs a value (%s)", word, metavar);
			return;
		}
		val = argv[++*i];
	}
	if (!g) {
		arg_value(l, a, val);
		return;
	}
	switch (g->id) {
	case G_MOUNT:
		ses->mount = val;
		break;
	case G_STORE:
		ses->store_dir = val;
		l->store_seen = true;
		break;
	case G_JSON:
		ses->json = true;
		break;
	case G_HELP:
		l->help = true;
		break;
	}
}

/* What the command still lacks: its required arguments and options. */
static void required(struct line *l)
{
	size_t k = 0;

	for (const cmd_arg *a = l->def->args; !CMD_ARG_END(a); a++) {
		bool missing;

		if (!a->opt)
			missing = a->required && k++ >= l->n_pos;
		else if (a->kind == CMD_GLOBAL)
			missing = a->required && strcmp(a->opt, "--store") == 0 && !l->store_seen;
		else
			missing = a->required && !json_object_get(l->req, a->key);
		if (missing && !a->opt)
			line_err(l, true, "which %s?", a->help);
		else if (missing)
			line_err(l, true, "%s: give %s %s", a->help, a->opt, a->metavar);
	}
}

static void parse(struct line *l, cmd_session *ses, int argc, char **argv)
{
	bool options = true;

	for (int i = 1; i < argc && !(l->word && !l->def); i++) {
		const char *word = argv[i];

		if (options && strcmp(word, "--") == 0)
			options = false;
		else if (options && word[0] == '-' && word[1])
			option(l, ses, argc, argv, &i);
		else
			positional(l, word);
	}
	/* Without a command nothing else can be judged: its options are unknown. */
	if (!l->def) {
		l->why[0] = '\0';
		line_err(l, true, l->word ? "unknown command" : "missing");
	} else {
		required(l);
	}
}

/* ---- one request ----------------------------------------------------- */

static int ctl_fail(const cmd_session *ses, const char *why)
{
	fprintf(stderr, "heapctl: %s: %s\n", ses->what, why);
	return 1;
}

/* The nearest directory from the cwd up that holds .heapfs/ctl (static). */
static const char *mount_find(void)
{
	static char dir[PATH_MAX];
	char path[PATH_MAX + 16];

	if (!getcwd(dir, sizeof(dir)))
		return NULL;
	for (;;) {
		snprintf(path, sizeof(path), "%s/.heapfs/ctl", strcmp(dir, "/") ? dir : "");
		if (access(path, F_OK) == 0)
			return dir;
		char *slash = strrchr(dir, '/');

		if (!slash || slash == dir)
			return NULL;
		*slash = '\0';
	}
}

/* One request through the mount: write it, read the whole response. */
static char *via_mount(const cmd_session *ses, const char *req, int *err)
{
	char path[PATH_MAX];
	char *out = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.heapfs/ctl", ses->mount) >= sizeof(path)) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		*err = errno ? errno : EIO;
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *grown = realloc(out, cap = cap * 2 + 8192);

			if (!grown) {
				*err = ENOMEM;
				break;
			}
			out = grown;
		}
		n = pread(fd, out + len, cap - len - 1, (off_t)len);
		if (n <= 0) {
			if (n < 0)
				*err = errno;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (*err) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

#ifndef HEAPCTL_CLIENT
/* `heapctl: STORE: why`, without the path twice: the store's messages
 * often start with it already. */
static void store_fail(const cmd_session *ses, const char *msg)
{
	size_t dl = strlen(ses->store_dir);

	if (strncmp(msg, ses->store_dir, dl) == 0 && strncmp(msg + dl, ": ", 2) == 0)
		msg += dl + 2;
	fprintf(stderr, "heapctl: %s: %s\n", ses->store_dir, msg);
}

/* The request run in-process on the store --store names. */
static json_t *via_store(cmd_session *ses, const json_t *req)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	json_t *resp;
	hs_store *s;

	o.read_only = ses->read_only;
	o.no_create = 1;   /* a mount creates stores; a typo must not */
	if (hs_store_open(&s, ses->store_dir, &o) < 0) {
		store_fail(ses, hs_error_last());
		return NULL;
	}
	resp = cmd_exec(s, req, NULL);
	if (hs_store_close(s) < 0) {   /* what the command wrote may not be durable */
		store_fail(ses, hs_error_last());
		json_decref(resp);
		return NULL;
	}
	if (!resp)
		ctl_fail(ses, strerror(ENOMEM));
	return resp;
}

#endif

static json_t *ctl_request(cmd_session *ses, const json_t *req)
{
	json_t *resp = NULL;
	json_error_t jerr;
	char *text, *resp_text, why[PATH_MAX + 64];
	int err = 0;

#ifndef HEAPCTL_CLIENT
	if (ses->store_dir) {
		if (!(resp = via_store(ses, req)))
			return NULL;
	} else
#endif
	if (!ses->mount) {
		ctl_fail(ses, NO_MOUNT);
		return NULL;
	} else {
		if (!(text = json_dumps(req, JSON_COMPACT))) {
			ctl_fail(ses, strerror(ENOMEM));
			return NULL;
		}
		resp_text = via_mount(ses, text, &err);
		free(text);
		if (!resp_text) {
			snprintf(why, sizeof(why), "%s/.heapfs/ctl: %s", ses->mount, strerror(err));
			ctl_fail(ses, why);
			return NULL;
		}
		resp = json_loads(resp_text, 0, &jerr);
		free(resp_text);
		if (!resp) {
			ctl_fail(ses, "unreadable response");
			return NULL;
		}
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		ctl_fail(ses, json_string_value(json_object_get(resp, "error")) ?: "failed");
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* ---- streams ------------------------------------------------------------ */

/* Progress on a terminal: bytes and rate, redrawn in place. */
struct progress {
	struct timespec t0;
	bool shown;
};

/* On a terminal: bytes and lines moved, of how many once the daemon knows
 * (after negotiating), the rate, and the time left. */
static void progress_show(void *arg, const mg_progress *pr)
{
	struct progress *p = arg;
	struct timespec now;
	double s, rate;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
	rate = s > 0 ? (double)pr->bytes / s : 0.0;
	if (pr->total >= pr->bytes && pr->total)
		fprintf(stderr, "\r%9.1f of %.1f MiB, %llu of %llu lines  %7.1f MiB/s  %.1f s left   ",
			(double)pr->bytes / 1048576.0, (double)pr->total / 1048576.0,
			(unsigned long long)pr->lines, (unsigned long long)pr->lines_total,
			rate / 1048576.0, rate > 0 ? (double)(pr->total - pr->bytes) / rate : 0.0);
	else
		fprintf(stderr, "\r%9.1f MiB  %7.1f MiB/s  %6.1f s   ", (double)pr->bytes / 1048576.0,
			rate / 1048576.0, s);
	p->shown = true;
}

#ifndef HEAPCTL_CLIENT
/* A streaming request in-process on the store --store names. */
static json_t *stream_via_store(cmd_session *ses, const json_t *req, int fd, int fd2,
				struct progress *pg)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	mg_io io = MG_IO_FD(fd);

	io.out_fd = fd2;
	json_t *resp;
	hs_store *s;

	if (pg) {
		io.progress = progress_show;
		io.arg = pg;
	}
	o.no_create = 1;
	if (hs_store_open(&s, ses->store_dir, &o) < 0) {
		store_fail(ses, hs_error_last());
		return NULL;
	}
	resp = cmd_exec_stream(s, req, &io, NULL);
	if (hs_store_close(s) < 0) {
		store_fail(ses, hs_error_last());
		json_decref(resp);
		return NULL;
	}
	return resp;
}

#endif

/* Through the mount: a channel from the daemon (ctl), then the request
 * with @fd on it; the daemon moves the bytes (cmd/chan.c). */
static json_t *stream_via_mount(cmd_session *ses, const json_t *req, int fd, int fd2,
				struct progress *pg)
{
	json_t *open_req = json_pack("{s:s}", "cmd", "channel"), *ch, *resp;
	char why[512];

	ch = ctl_request(ses, open_req);
	json_decref(open_req);
	if (!ch)
		return NULL;
	resp = cmd_chan_call(json_string_value(json_object_get(ch, "socket")) ?: "",
			     json_string_value(json_object_get(ch, "token")) ?: "", req, fd, fd2,
			     pg ? progress_show : NULL, pg, why, sizeof(why));
	json_decref(ch);
	if (!resp)
		ctl_fail(ses, why);
	return resp;
}

static json_t *stream_request(cmd_session *ses, const json_t *req, int fd, int fd2)
{
	struct progress pg = { { 0, 0 }, false };
	bool show = isatty(STDERR_FILENO);
	json_t *resp;

	clock_gettime(CLOCK_MONOTONIC, &pg.t0);
	if (!ses->store_dir && !ses->mount) {
		ctl_fail(ses, NO_MOUNT);
		return NULL;
	}
#ifndef HEAPCTL_CLIENT
	if (ses->store_dir)
		resp = stream_via_store(ses, req, fd, fd2, show ? &pg : NULL);
	else
#endif
		resp = stream_via_mount(ses, req, fd, fd2, show ? &pg : NULL);
	if (pg.shown)
		fputc('\n', stderr);
	if (resp && !json_is_true(json_object_get(resp, "ok"))) {
		ctl_fail(ses, json_string_value(json_object_get(resp, "error")) ?: "failed");
		json_decref(resp);
		return NULL;
	}
	return resp;
}

#ifdef HEAPCTL_CLIENT
/* --store: heapctl-store, beside this program, runs the same command line. */
static void store_exec(cmd_session *ses, char **argv)
{
	char path[PATH_MAX], why[PATH_MAX + 64];
	size_t room = sizeof(path) - sizeof("heapctl-store");
	ssize_t n = readlink("/proc/self/exe", path, room);

	if (n <= 0 || (size_t)n >= room || path[0] != '/') {
		ctl_fail(ses, "--store: cannot find heapctl-store (/proc/self/exe)");
		return;
	}
	path[n] = '\0';
	strcpy(strrchr(path, '/') + 1, "heapctl-store");
	execv(path, argv);
	snprintf(why, sizeof(why), "--store: %s: %s", path, strerror(errno));
	ctl_fail(ses, why);
}
#endif

/* The default flow: one request, its response printed. */
static int run_default(const cmd_def *def, json_t *req, cmd_session *ses)
{
	json_t *resp = ses->request(ses, req);

	if (!resp)
		return 1;
	cmd_response_print(stdout, def, resp, ses->json);
	json_decref(resp);
	return 0;
}

int main(int argc, char **argv)
{
	char what[256];               /* "checkpoint app": what errors name */
	cmd_session s = { .what = what, .request = ctl_request, .fail = ctl_fail,
			  .stream = stream_request }, *ses = &s;
	struct line l = { 0 };
	int rc = 1;

	/* A reader gone is an error to report (EPIPE), not a silent death:
	 * with --store this process writes streams and runs migrations
	 * itself, and a migration must give its lease back on failure. */
	signal(SIGPIPE, SIG_IGN);
	parse(&l, ses, argc, argv);
	/* --help anywhere wins over the rest of the line, but names a real command. */
	if (l.help && !(l.word && !l.def)) {
		if (l.def)
			command_usage(stdout, l.def);
		else
			usage(stdout);
		rc = 0;
		goto out;
	}
	if (l.def)
		snprintf(what, sizeof(what), "%s%s%s", l.def->name, l.heap ? " " : "",
			 l.heap ? l.heap : "");
	else
		snprintf(what, sizeof(what), "%s", l.word ? l.word : "COMMAND");
	if (l.why[0]) {
		ctl_fail(ses, l.why);
		if (l.usage_err && l.def) {
			char syn[512];

			fprintf(stderr, "usage: heapctl %s  (heapctl %s --help)\n",
				synopsis(l.def, syn, sizeof(syn)), l.def->name);
		} else if (l.usage_err) {
			fprintf(stderr, "usage: " SYNOPSIS "  (heapctl --help)\n");
		}
		goto out;
	}
	/* Where the request goes: --store, else a mount found now (a runner may need none). */
#ifdef HEAPCTL_CLIENT
	if (ses->store_dir) {
		store_exec(ses, argv);
		goto out;
	}
#endif
	if (!ses->store_dir && !ses->mount)
		ses->mount = getenv("HEAPFS_MOUNT");
	if (!ses->store_dir && !ses->mount)
		ses->mount = mount_find();
	rc = l.def->client ? l.def->client(l.def, l.req, ses) : run_default(l.def, l.req, ses);
out:
	json_decref(l.req);
	return rc;
}
