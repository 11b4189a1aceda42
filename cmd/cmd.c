/*
 * cmd.c - the management commands' daemon side (see cmd.h): cmd_exec()
 * looks the request's "cmd" up in the table, checks the caller's rights
 * and the required fields, opens the heap, and runs the handler.  Each
 * handler takes its fields from the request, calls heapstore, and
 * describes the result in JSON; every error is the store's errno and
 * message, unchanged.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_int.h"
#include "gc.h"

static json_t *fail(int rc, const char *msg)
{
	return json_pack("{s:b, s:i, s:s}", "ok", 0, "errno", -rc, "error", msg);
}

/*
 * A failure found here rather than in the store leaves its message in
 * msg; fail_store() takes that or the store's.
 */
static __thread char msg[256];
static __thread bool msg_set;

int cmd__errno_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msg_set = true;
	return rc;
}

static json_t *fail_store(int rc)
{
	json_t *resp = fail(rc, msg_set ? msg : hs_error_last());

	msg_set = false;
	return resp;
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *str_field(const json_t *req, const char *key)
{
	const json_t *v = json_object_get(req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An optional unsigned number; -EINVAL if present but not one. */
static int u64_field(const json_t *req, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(req, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static json_t *heap_json(const hs_heap_info *hi)
{
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", hi->mode);
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I,"
			      " s:s, s:I, s:I, s:s}",
			 "name", hi->name, "size", (json_int_t)hi->size_bytes,
			 "line_size", (json_int_t)hi->line_size,
			 "lines_used", (json_int_t)hi->lines_used,
			 "version", (json_int_t)hi->version,
			 "latest", (json_int_t)hi->latest,
			 "checkpoints", (json_int_t)hi->checkpoints,
			 "quota", (json_int_t)hi->quota_bytes,
			 "reserve", (json_int_t)hi->reserve_bytes,
			 "state", cmd_heap_state(hi),
			 "state_size", (json_int_t)hi->state_size,
			 "owner", (json_int_t)hi->uid, "group", (json_int_t)hi->gid,
			 "mode", mode, "referenced", (json_int_t)hi->bytes_referenced,
			 "unique", (json_int_t)hi->bytes_unique, "lease",
			 hi->lease == HS_LEASE_HELD ? "held" : hi->lease == HS_LEASE_EXPIRED ?
			 "expired" : "migrated");

	if (j && hi->lease != HS_LEASE_HELD && *hi->moved_to)
		json_object_set_new(j, "moved_to", json_string(hi->moved_to));
	return j;
}

static json_t *version_json(const hs_version_info *vi)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
			 "version", (json_int_t)vi->version,
			 "parent", (json_int_t)vi->parent,
			 "created_ns", (json_int_t)vi->created_ns, "label", vi->label,
			 "lines_changed", (json_int_t)vi->lines_changed,
			 "bytes_changed", (json_int_t)vi->bytes_changed,
			 "size", (json_int_t)vi->size_bytes,
			 "lines_used", (json_int_t)vi->lines_used,
			 "state_size", (json_int_t)vi->state_size);
}

/* "version": a number, "latest", a label, or "live" where @live allows it. */
static int version_field(hs_heap *h, const json_t *req, const char *key,
			 bool live, uint64_t *out)
{
	const json_t *v = json_object_get(req, key);
	hs_heap_info hi;
	int rc;

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return cmd__errno_set(-EINVAL, "%s: a checkpoint number, latest, live or a label", key);
	if (strcmp(json_string_value(v), "live") == 0) {
		if (!live)
			return cmd__errno_set(-EINVAL, "%s: live is the heap itself, not a checkpoint",
					     key);
		*out = HS_VERSION_LIVE;
		return 0;
	}
	if (strcmp(json_string_value(v), "latest") == 0) {
		if ((rc = hs_heap_info_get(h, &hi)) < 0)
			return rc;
		if (!hi.latest)
			return cmd__errno_set(-ENOENT, "heap '%s' has no checkpoint", hi.name);
		*out = hi.latest;
		return 0;
	}
	return hs_version_find_label(h, json_string_value(v), out);
}

const char *cmd_heap_state(const hs_heap_info *hi)
{
	if (hi->state != HS_HEAP_LIVE)
		return "deleting";
	if (hi->lease == HS_LEASE_MIGRATED)
		return "migrated";
	if (hi->lease == HS_LEASE_EXPIRED)
		return "migrating";
	return hi->suspended ? "suspended" : "live";
}

/* Read (4) or write (2) rights of @c on heap @hi, as the kernel decides
 * for its files: owner bits, else group bits, else the others'. */
static bool may(const cmd_caller *c, const hs_heap_info *hi, unsigned want)
{
	unsigned bits;

	if (!c || c->uid == 0)
		return true;
	if (c->uid == hi->uid) {
		bits = hi->mode >> 6;
	} else {
		bool member = c->gid == hi->gid;

		for (int i = 0; i < c->n_groups && !member; i++)
			member = c->groups[i] == hi->gid;
		bits = member ? hi->mode >> 3 : hi->mode;
	}
	return (bits & want) == want;
}

static int may_or_fail(const cmd_hooks *hooks, hs_heap *h, unsigned want)
{
	hs_heap_info hi;
	int rc;

	if (!hooks->caller)
		return 0;
	if ((rc = hs_heap_info_get(h, &hi)) < 0)
		return rc;
	if (!may(hooks->caller, &hi, want))
		return cmd__errno_set(-EACCES, "heap '%s': permission denied (mode %04o, owner %u, group %u)",
				     hi.name, hi.mode, hi.uid, hi.gid);
	return 0;
}

/* Store-wide commands are the mount owner's and root's. */
static bool admin(const cmd_hooks *hooks)
{
	return !hooks->caller || hooks->caller->admin;
}

int cmd__create(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	const cmd_caller *caller = ctx->hooks->caller;
	uint64_t line = 0;
	int rc;

	(void)resp;
	if (caller && !caller->admin &&
	    (json_object_get(ctx->req, "quota") || json_object_get(ctx->req, "reserve")))
		return cmd__errno_set(-EPERM, "permission denied: quota and reserve are the pool's, set by the mount's owner and root");
	if (caller) {   /* the sender's, private, as mkdir makes it */
		p.owned = 1;
		p.uid = caller->uid;
		p.gid = caller->gid;
		p.mode = HS_MODE_DEFAULT;
	}
	if (u64_field(ctx->req, "size", &p.size_bytes) < 0 ||
	    u64_field(ctx->req, "line", &line) < 0 ||
	    u64_field(ctx->req, "quota", &p.quota_bytes) < 0 ||
	    u64_field(ctx->req, "reserve", &p.reserve_bytes) < 0 || line > UINT32_MAX)
		return cmd__errno_set(-EINVAL, "size, line, quota and reserve are byte counts");
	p.line_size = (uint32_t)line;
	if ((rc = hs_heap_create(ctx->store, ctx->heap_name, &p)) < 0)
		return rc;
	/* The mount's space ledger keeps what it reserved as its own. */
	if (ctx->hooks->space && (p.reserve_bytes || p.quota_bytes)) {
		hs_heap_info hi;
		hs_heap *h;

		if (hs_heap_open(&h, ctx->store, ctx->heap_name) == 0) {
			if (hs_heap_info_get(h, &hi) == 0)
				(void)pool_budget_set(ctx->hooks->space, hi.id, hi.reserve_bytes,
						      hi.quota_bytes, 0);
			hs_heap_close(h);
		}
	}
	return 0;
}

int cmd__ls(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap_info *arr;
	size_t n;
	json_t *list;
	int rc;

	/* Line counts are the store's: what the line cache holds goes there first. */
	if ((rc = hs_store_flush(ctx->store)) < 0 || (rc = hs_heap_list(ctx->store, &arr, &n)) < 0)
		return rc;
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		if (may(ctx->hooks->caller, &arr[i], 4))
			json_array_append_new(list, heap_json(&arr[i]));
	}
	free(arr);
	json_object_set_new(resp, "heaps", list);
	return 0;
}

int cmd__rm(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap_info hi = { .id = 0 };
	hs_heap *h;
	int rc;

	(void)resp;
	if (ctx->hooks->heap_gone && hs_heap_open(&h, ctx->store, ctx->heap_name) == 0) {
		(void)hs_heap_info_get(h, &hi);
		hs_heap_close(h);
	}
	if ((rc = hs_heap_delete(ctx->store, ctx->heap_name)) == 0 && hi.id)
		ctx->hooks->heap_gone(hi.id, ctx->hooks->payload);
	return rc;
}

int cmd__stat(const cmd_ctx *ctx, json_t *resp)
{
	hs_cache_stats cs;
	hs_heap_info hi;
	int rc;

	if ((rc = hs_heap_flush(ctx->heap)) < 0 || (rc = hs_heap_info_get(ctx->heap, &hi)) < 0 ||
	    (rc = hs_store_cache_stats(ctx->store, &cs)) < 0)
		return rc;
	json_object_set_new(resp, "heap", heap_json(&hi));
	/* The heap's share of the line cache, and the cache's figures. */
	json_object_set_new(resp, "cache", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"lines_resident", (json_int_t)hi.lines_resident,
		"lines_dirty", (json_int_t)hi.lines_dirty,
		"hits", (json_int_t)hi.cache_hits,
		"misses", (json_int_t)hi.cache_misses,
		"evictions", (json_int_t)hi.cache_evictions,
		"limit", (json_int_t)cs.limit_bytes,
		"allocated", (json_int_t)cs.allocated_bytes,
		"spare", (json_int_t)cs.spare_bytes,
		"used", (json_int_t)cs.used_bytes,
		"dirty", (json_int_t)cs.dirty_bytes,
		"blocks_grown", (json_int_t)cs.blocks_grown,
		"blocks_returned", (json_int_t)cs.blocks_returned,
		"idle_evictions", (json_int_t)cs.idle_evictions));
	if (ctx->hooks->mem) {
		pool_budget_heap e;

		pool_budget_heap_get(ctx->hooks->mem, hi.id, &e);
		json_object_set_new(resp, "memory", cmd_pool_heap_json(ctx->hooks->mem, &e));
	}
	if (ctx->hooks->space) {
		pool_budget_heap e;

		pool_budget_heap_get(ctx->hooks->space, hi.id, &e);
		json_object_set_new(resp, "space", cmd_pool_heap_json(NULL, &e));
	}
	return 0;
}

json_t *cmd_pool_heap_json(pool_budget *balloons, const pool_budget_heap *e)
{
	json_t *ledger = json_object(), *balloon, *out;
	pool_balloon_report r;
	pool_balloon bal;
	uint64_t gen;

	for (int s = 0; s < POOL_NSUB; s++)
		json_object_set_new(ledger, cmd__sub_names[s], json_integer((json_int_t)e->h.ledger[s]));
	out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			"reserve", (json_int_t)e->h.reserve, "quota", (json_int_t)e->h.quota,
			"shares", (json_int_t)e->h.shares,
			"used", (json_int_t)(e->h.used + e->idle),
			"owed", (json_int_t)pool_owed(&e->h), "idle", (json_int_t)e->idle,
			"collateral", (json_int_t)e->h.collateral, "ledger", ledger);
	if (!balloons || !out)
		return out;
	(void)pool_budget_balloon_get(balloons, e->id, &bal, &gen);
	balloon = json_pack("{s:I, s:I, s:I}", "target", (json_int_t)bal.target,
			    "current", (json_int_t)bal.current, "rate", (json_int_t)bal.rate);
	/* What its runtime said it could give: a hint, shown as said. */
	if (pool_budget_balloon_reported(balloons, e->id, &r) && r.has_freeable)
		json_object_set_new(balloon, "freeable", json_integer((json_int_t)r.freeable));
	if (r.has_live)
		json_object_set_new(balloon, "live", json_integer((json_int_t)r.live));
	json_object_set_new(out, "balloon", balloon);
	return out;
}

json_t *cmd_pool_budget_json(const hs_heap_info *hs, size_t nh, pool_budget *b,
			     pool_budget *balloons, const cmd_caller *caller)
{
	pool_budget_heap *e = NULL;
	json_t *subs, *heaps, *out = NULL;
	uint64_t used = 0, idle = 0;
	size_t n = 0;
	pool_state st;

	if (!b || pool_budget_get(b, &st, &e, &n) < 0)
		goto out;
	subs = json_object();
	heaps = json_array();
	for (int s = 0; s < POOL_NSUB; s++)
		json_object_set_new(subs, cmd__sub_names[s], json_pack(
			"{s:I, s:I, s:I}", "size", (json_int_t)st.sub_size[s],
			"level", (json_int_t)pool_level(&st, (enum pool_sub)s),
			"low", (json_int_t)pool_low_mark(&st, (enum pool_sub)s)));
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		json_t *h;

		used += e[i].h.used + e[i].idle;
		idle += e[i].idle;
		while (k < nh && hs[k].id != e[i].id)
			k++;
		if (k == nh || !may(caller, &hs[k], 4) ||
		    (!e[i].h.used && !e[i].idle && !e[i].h.reserve && !e[i].h.quota))
			continue;
		h = cmd_pool_heap_json(balloons, &e[i]);
		json_object_set_new(h, "heap", json_string(hs[k].name));
		json_array_append_new(heaps, h);
	}
	out = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "size", (json_int_t)st.size,
			"used", (json_int_t)used, "reserved", (json_int_t)st.reserved,
			"idle_lent", (json_int_t)idle, "subpools", subs, "heaps", heaps);
out:
	free(e);
	return out;
}

/*
 * Both budgets.  Space: the pool= budget (0: the disk's), the bytes
 * stored after dedup and compression, what dirty cached lines hold, what
 * reservations keep unused, and the garbage GC will reclaim; then, from
 * a daemon, its ledger (the budget's own size, the sub-pools, the heaps:
 * used there is what each heap's quota counts, shared blobs in full for
 * each).  Memory: the line cache's budget (absent without a daemon's
 * cache).
 */
int cmd__pool(const cmd_ctx *ctx, json_t *resp)
{
	hs_store_totals tot;
	json_t *mem, *space, *led;
	hs_heap_info *hs = NULL;
	size_t nh = 0;
	int rc;

	if ((ctx->hooks->space || ctx->hooks->mem) &&
	    (rc = hs_heap_list(ctx->store, &hs, &nh)) < 0)   /* once, for both */
		return rc;
	hs_store_totals_get(ctx->store, &tot);
	space = json_pack("{s:I, s:I, s:I, s:I, s:I}", "size", (json_int_t)tot.pool_bytes,
			  "used", (json_int_t)tot.bytes_stored,
			  "charged", (json_int_t)tot.bytes_charged,
			  "reserved_unused", (json_int_t)tot.bytes_reserved_unused,
			  "garbage", (json_int_t)tot.bytes_garbage);
	if ((led = cmd_pool_budget_json(hs, nh, ctx->hooks->space, NULL, ctx->hooks->caller))) {
		json_object_set(space, "budget", json_object_get(led, "size"));
		json_object_set(space, "reserved", json_object_get(led, "reserved"));
		json_object_set(space, "idle_lent", json_object_get(led, "idle_lent"));
		json_object_set(space, "subpools", json_object_get(led, "subpools"));
		json_object_set(space, "heaps", json_object_get(led, "heaps"));
		json_decref(led);
	}
	json_object_set_new(resp, "space", space);
	if ((mem = cmd_pool_budget_json(hs, nh, ctx->hooks->mem, ctx->hooks->mem,
					ctx->hooks->caller)))
		json_object_set_new(resp, "memory", mem);
	free(hs);
	return 0;
}

int cmd__checkpoint(const cmd_ctx *ctx, json_t *resp)
{
	const char *label = str_field(ctx->req, "label");
	ckpt_policy *own = NULL;
	uint64_t v = 0;
	int rc;

	if (label && !*label)
		rc = cmd__errno_set(-EINVAL, "an empty label: leave --label out for none");
	else if (ctx->hooks->ckpt)
		rc = ckpt_take(ctx->hooks->ckpt, ctx->heap, label, CKPT_MANUAL, &v);
	else if ((rc = ckpt_start(&own, ctx->store, NULL)) == 0)
		rc = ckpt_take(own, ctx->heap, label, CKPT_MANUAL, &v);
	ckpt_stop(own);
	if (rc == 0)
		json_object_set_new(resp, "version", json_integer((json_int_t)v));
	return rc;
}

int cmd__suspend(const cmd_ctx *ctx, json_t *resp)
{
	uint64_t v = 0;
	int rc;

	if ((rc = hs_heap_suspend(ctx->heap, &v)) == 0)
		json_object_set_new(resp, "version", json_integer((json_int_t)v));
	return rc;
}

/*
 * resume: undo suspend; with --force, also take the writer lease back from
 * a node the heap migrated to (or a migration that died half way), when
 * that node is lost for good: the heap is live here again.
 */
int cmd__resume(const cmd_ctx *ctx, json_t *resp)
{
	bool force = json_is_true(json_object_get(ctx->req, "force"));
	hs_heap_info hi;
	int rc;

	(void)resp;
	if ((rc = hs_heap_info_get(ctx->heap, &hi)) < 0)
		return rc;
	if (hi.lease != HS_LEASE_HELD) {
		if (!force && hi.lease == HS_LEASE_EXPIRED && *hi.moved_to)
			return cmd__errno_set(-EROFS, "heap '%s' was being handed to %s (its lease "
					      "expired): heapctl migrate %s %s finds out whether it "
					      "went; if that node is lost for good, heapctl resume %s "
					      "--force takes it back", hi.name, hi.moved_to, hi.name,
					      hi.moved_to, hi.name);
		if (!force)
			return cmd__errno_set(-EROFS, "heap '%s' %s%s: if that node is lost for good, "
					      "heapctl resume %s --force takes it back", hi.name,
					      hi.lease == HS_LEASE_MIGRATED ? "migrated to " :
					      "is being migrated (its lease expired)",
					      hi.lease == HS_LEASE_MIGRATED ? hi.moved_to : "", hi.name);
		if ((rc = hs_heap_lease_set(ctx->heap, HS_LEASE_HELD, NULL)) < 0)
			return rc;
		hs_event_post(ctx->heap, "lease-taken");
		if (!hi.suspended)
			return 0;
	}
	return hs_heap_resume(ctx->heap);
}

int cmd__checkpoints(const cmd_ctx *ctx, json_t *resp)
{
	hs_version_info *arr;
	json_t *list;
	size_t n;
	int rc;

	if ((rc = hs_version_list(ctx->heap, &arr, &n)) < 0)
		return rc;
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, version_json(&arr[i]));
	free(arr);
	json_object_set_new(resp, "checkpoints", list);
	return 0;
}

/* Every checkpoint's space (hs_version_space_get), and the heap's. */
int cmd__space(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap *h = ctx->heap;
	hs_version_info *arr = NULL;
	hs_heap_info hi;
	json_t *list;
	size_t n = 0;
	int rc;

	if ((rc = hs_heap_flush(h)) < 0 || (rc = hs_version_list(h, &arr, &n)) < 0)
		return rc;
	list = json_array();
	for (size_t i = 0; i < n && rc == 0; i++) {
		hs_version_space sp;

		if ((rc = hs_version_space_get(h, arr[i].version, &sp)) == 0)
			json_array_append_new(list, json_pack(
				"{s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
				"version", (json_int_t)sp.version, "label", arr[i].label,
				"held", (json_int_t)sp.bytes_held,
				"unique", (json_int_t)sp.bytes_unique,
				"shared", (json_int_t)sp.bytes_shared,
				"freed_if_deleted", (json_int_t)sp.bytes_freed,
				"lines_changed", (json_int_t)sp.lines_changed));
	}
	free(arr);
	if (rc == 0)
		rc = hs_heap_info_get(h, &hi);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	json_object_set_new(resp, "referenced", json_integer((json_int_t)hi.bytes_referenced));
	json_object_set_new(resp, "unique", json_integer((json_int_t)hi.bytes_unique));
	json_object_set_new(resp, "reserve", json_integer((json_int_t)hi.reserve_bytes));
	json_object_set_new(resp, "quota", json_integer((json_int_t)hi.quota_bytes));
	json_object_set_new(resp, "checkpoints", list);
	return 0;
}

int cmd__restore(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap_info hi;
	uint64_t v = 0;
	int rc;

	if ((rc = version_field(ctx->heap, ctx->req, "version", false, &v)) < 0 ||
	    (rc = hs_heap_restore(ctx->heap, v)) < 0 ||
	    (rc = hs_heap_info_get(ctx->heap, &hi)) < 0)
		return rc;
	if (ctx->hooks->heap_changed)
		ctx->hooks->heap_changed(hi.id, (const uint64_t[1][2]){ { 0, 0 } }, 1,
					 ctx->hooks->payload);
	json_object_set_new(resp, "version", json_integer((json_int_t)v));
	return 0;
}

int cmd__rm_checkpoint(const cmd_ctx *ctx, json_t *resp)
{
	uint64_t v = 0;
	int rc;

	(void)resp;
	if ((rc = version_field(ctx->heap, ctx->req, "version", false, &v)) < 0)
		return rc;
	return hs_version_delete(ctx->heap, v);
}

/* Heap lines into "lines", state lines (by state line index) into "state_lines". */
static int diff_add(uint64_t line, void *payload)
{
	json_t *resp = payload;
	json_t *arr = json_object_get(resp, line & HS_STATE_LINE ? "state_lines" : "lines");

	return json_array_append_new(arr, json_integer((json_int_t)(line & ~HS_STATE_LINE))) ?
		-ENOMEM : 0;
}

int cmd__diff(const cmd_ctx *ctx, json_t *resp)
{
	hs_heap_info hi;
	uint64_t v = 0, v2 = 0;
	int rc;

	json_object_set_new(resp, "lines", json_array());
	json_object_set_new(resp, "state_lines", json_array());
	if ((rc = version_field(ctx->heap, ctx->req, "from", true, &v)) < 0 ||
	    (rc = version_field(ctx->heap, ctx->req, "to", true, &v2)) < 0 ||
	    (rc = hs_heap_info_get(ctx->heap, &hi)) < 0 ||
	    (rc = hs_version_diff(ctx->heap, v, v2, diff_add, resp)) < 0)
		return rc;
	json_object_set_new(resp, "line_size", json_integer((json_int_t)hi.line_size));
	return 0;
}

/* Sort fsck's reports: errors, repairs and lost lines (without their prefix). */
static void fsck_add(const char *problem, void *payload)
{
	json_t *resp = payload;
	const char *key = "problems";

	if (!strncmp(problem, HS_FSCK_REPAIRED, strlen(HS_FSCK_REPAIRED))) {
		key = "repaired";
		problem += strlen(HS_FSCK_REPAIRED);
	} else if (!strncmp(problem, HS_FSCK_LOST, strlen(HS_FSCK_LOST))) {
		key = "lost";
		problem += strlen(HS_FSCK_LOST);
	}
	json_array_append_new(json_object_get(resp, key), json_string(problem));
}

/*
 * {"cmd":"fsck", "verify_data":bool, "repair":bool}: "errors" is what is
 * left wrong (the exit status), "problems" lists them, "repaired" what
 * repair fixed, "lost" the lines a repair dropped (not errors).
 */
int cmd__fsck(const cmd_ctx *ctx, json_t *resp)
{
	int flags = (json_is_true(json_object_get(ctx->req, "verify_data")) ? HS_FSCK_VERIFY_DATA : 0) |
		    (json_is_true(json_object_get(ctx->req, "repair")) ? HS_FSCK_REPAIR : 0);
	ssize_t n;

	if ((flags & HS_FSCK_REPAIR) && ctx->hooks->mounted)
		return cmd__errno_set(-EBUSY, "fsck --repair needs the store unmounted (heapctl fsck --store DIR --repair)");
	json_object_set_new(resp, "errors", json_integer(0));
	json_object_set_new(resp, "problems", json_array());
	json_object_set_new(resp, "repaired", json_array());
	json_object_set_new(resp, "lost", json_array());
	n = hs_store_fsck(ctx->store, flags, fsck_add, resp);
	if (n < 0)
		return (int)n;
	json_object_set_new(resp, "errors", json_integer((json_int_t)n));
	return 0;
}

int cmd__gc(const cmd_ctx *ctx, json_t *resp)
{
	gc_report r = { 0 };
	int rc = gc_run(ctx->store, json_is_true(json_object_get(ctx->req, "full")), &r);

	if (rc < 0)
		return rc;
	json_object_set_new(resp, "rounds", json_integer((json_int_t)r.rounds));
	json_object_set_new(resp, "candidates", json_integer((json_int_t)r.candidates));
	json_object_set_new(resp, "blobs_freed", json_integer((json_int_t)r.blobs_freed));
	json_object_set_new(resp, "bytes_freed", json_integer((json_int_t)r.bytes_freed));
	json_object_set_new(resp, "busy", json_integer((json_int_t)r.busy));
	return 0;
}

/* ---- streams ------------------------------------------------------------ */

static void stream_json(json_t *resp, const char *did, const mg_stats *st)
{
	json_object_set_new(resp, "did", json_string(did));
	json_object_set_new(resp, "heap", json_string(st->heap));
	json_object_set_new(resp, "version", json_integer((json_int_t)st->version));
	json_object_set_new(resp, "versions", json_integer((json_int_t)st->versions));
	json_object_set_new(resp, "lines", json_integer((json_int_t)st->lines));
	json_object_set_new(resp, "blobs", json_integer((json_int_t)st->blobs));
	json_object_set_new(resp, "blob_bytes", json_integer((json_int_t)st->blob_bytes));
	json_object_set_new(resp, "bytes", json_integer((json_int_t)st->bytes));
}

int cmd__send(const cmd_ctx *ctx, json_t *resp)
{
	uint64_t version = 0, from = 0;
	mg_stats st;
	int rc;

	if ((json_object_get(ctx->req, "version") &&
	     (rc = version_field(ctx->heap, ctx->req, "version", false, &version)) < 0) ||
	    (json_object_get(ctx->req, "from") &&
	     (rc = version_field(ctx->heap, ctx->req, "from", false, &from)) < 0))
		return rc;
	if ((rc = mg_send(ctx->store, ctx->heap_name, version, from, ctx->io, &st)) < 0)
		return rc;
	stream_json(resp, "sent", &st);
	json_object_set_new(resp, "from", json_integer((json_int_t)from));
	return 0;
}

/* Who may receive: a new heap is a create, versions added to one are a
 * write of it. */
static int recv_allowed(const void *arg, const char *name, bool exists)
{
	const cmd_ctx *ctx = arg;
	hs_heap *h;
	int rc;

	if (!exists) {
		if ((ctx->hooks->caller && ctx->hooks->caller->create_all) || admin(ctx->hooks))
			return 0;
		return cmd__errno_set(-EACCES, "permission denied: only the mount's owner and "
				      "root may create heaps here");
	}
	if ((rc = hs_heap_open(&h, ctx->store, name)) < 0)
		return rc;
	rc = may_or_fail(ctx->hooks, h, 2);
	hs_heap_close(h);
	return rc;
}

/* The ranges a commit changed, gathered to be dropped at once. */
struct changed_ranges {
	uint64_t (*r)[2];
	size_t n, cap;
	bool all;                         /* out of memory: the whole heap */
};

static void changed_range(void *arg, uint64_t off, uint64_t len)
{
	struct changed_ranges *c = arg;

	if (c->all)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		uint64_t (*g)[2] = realloc(c->r, cap * sizeof(*g));

		if (!g) {
			c->all = true;
			return;
		}
		c->r = g;
		c->cap = cap;
	}
	c->r[c->n][0] = off;
	c->r[c->n++][1] = len;
}

/*
 * A stream or a round committed (recv, serve): the runtime hears of it,
 * and mappings of a heap that had versions added see its new content.
 */
static void received(const void *arg, const char *heap, uint64_t version, bool changed,
		     bool final, const hs_import *imp)
{
	const cmd_ctx *ctx = arg;
	hs_heap_info hi;
	hs_heap *h;

	if ((!changed && !final) || hs_heap_open(&h, ctx->store, heap) < 0)
		return;
	/* What the kernel caches of the lines that changed goes (all of a
	 * 1 GiB heap read through took 58 ms to drop, in the round's answer). */
	if (changed && hs_heap_info_get(h, &hi) == 0 && ctx->hooks->heap_changed) {
		struct changed_ranges c = { 0 };

		hs_import_changed(imp, changed_range, &c);
		if (c.all)
			ctx->hooks->heap_changed(hi.id, (const uint64_t[1][2]){ { 0, 0 } }, 1,
						 ctx->hooks->payload);
		else if (c.n)
			ctx->hooks->heap_changed(hi.id, (const uint64_t (*)[2])c.r, c.n,
						 ctx->hooks->payload);
		free(c.r);
	}
	if (final)
		hs_event_post(h, "received %llu", (unsigned long long)version);
	hs_heap_close(h);
}

int cmd__recv(const cmd_ctx *ctx, json_t *resp)
{
	const cmd_caller *c = ctx->hooks->caller;
	/* Whether the store holds a content is for its owner to learn: others
	 * must send every content they name. */
	mg_recv_opts o = { str_field(ctx->req, "as"), c != NULL, c ? c->uid : 0, c ? c->gid : 0,
			   HS_MODE_DEFAULT, recv_allowed, ctx, !admin(ctx->hooks), received };
	mg_stats st;
	int rc;

	if (json_object_get(ctx->req, "as") && !o.as)
		return cmd__errno_set(-EINVAL, "--as: a heap name");
	if ((rc = mg_recv(ctx->store, ctx->io, &o, &st)) < 0)
		return rc;
	stream_json(resp, "received", &st);
	return 0;
}

int cmd__verify(const cmd_ctx *ctx, json_t *resp)
{
	mg_stats st;
	int rc;

	/* Checked against the store for its owner only (an oracle else). */
	if ((rc = mg_verify(admin(ctx->hooks) ? ctx->store : NULL, ctx->io, &st)) < 0)
		return rc;
	stream_json(resp, "verified", &st);
	json_object_set_new(resp, "contents_held", json_integer((json_int_t)st.lines_held));
	return 0;
}

/* ---- migration ---------------------------------------------------------- */

/* The descriptors of a migration: in, and out (the same one, or another). */
static void migrate_ios(const mg_io *io, mg_io *in, mg_io *out)
{
	*in = *io;
	*out = *io;
	if (io->out_fd >= 0)
		out->fd = io->out_fd;
}

int cmd__migrate(const cmd_ctx *ctx, json_t *resp)
{
	mg_migrate_opts o = { 0 };
	mg_migrate_stats st;
	ckpt_policy *own = NULL;
	uint64_t downtime = 0;
	mg_io in, out;
	int rc;

	if (json_object_get(ctx->req, "downtime") &&
	    ((rc = u64_field(ctx->req, "downtime", &downtime)) < 0 || downtime > 3600000))
		return cmd__errno_set(-EINVAL, "--downtime: milliseconds, at most an hour");
	o.dest = str_field(ctx->req, "dest");
	o.downtime_ms = (unsigned)downtime;
	o.ckpt = ctx->hooks->ckpt;
	if (!o.ckpt && (rc = ckpt_start(&own, ctx->store, NULL)) < 0)
		return rc;
	if (!o.ckpt)
		o.ckpt = own;
	o.flush_mapped = ctx->hooks->flush_mapped;
	o.arg = ctx->hooks->payload;
	migrate_ios(ctx->io, &in, &out);
	rc = mg_migrate(ctx->store, ctx->heap_name, &in, &out, &o, &st);
	ckpt_stop(own);
	if (rc < 0)
		return rc;
	/* Where QEMU's query-migrate has a field for it, its name. */
	json_object_set_new(resp, "heap", json_string(ctx->heap_name));
	json_object_set_new(resp, "dest", json_string(o.dest));
	json_object_set_new(resp, "version", json_integer((json_int_t)st.version));
	json_object_set_new(resp, "common_version", json_integer((json_int_t)st.common_version));
	json_object_set_new(resp, "lines_total", json_integer((json_int_t)st.lines_total));
	json_object_set_new(resp, "lines_sent", json_integer((json_int_t)st.lines_sent));
	json_object_set_new(resp, "lines_present", json_integer((json_int_t)st.lines_present));
	json_object_set_new(resp, "payload_bytes", json_integer((json_int_t)st.payload_bytes));
	json_object_set_new(resp, "negotiation_bytes",
			    json_integer((json_int_t)st.negotiation_bytes));
	json_object_set_new(resp, "transferred",
			    json_integer((json_int_t)(st.payload_bytes + st.negotiation_bytes)));
	json_object_set_new(resp, "bytes_skipped", json_integer((json_int_t)st.bytes_skipped));
	json_object_set_new(resp, "dirty-sync-count", json_integer((json_int_t)st.rounds));
	json_object_set_new(resp, "rounds", json_integer((json_int_t)st.rounds));
	json_object_set_new(resp, "downtime", json_integer((json_int_t)st.downtime_ms));
	json_object_set_new(resp, "downtime_ms", json_integer((json_int_t)st.downtime_ms));
	json_object_set_new(resp, "total-time", json_integer((json_int_t)st.total_ms));
	json_object_set_new(resp, "seconds", json_real((double)st.total_ms / 1000.0));
	return 0;
}

/* A stale copy here was dropped to start afresh: as if rm'ed. */
static void dropped(const void *arg, uint64_t heap_id)
{
	const cmd_ctx *ctx = arg;

	if (ctx->hooks->heap_gone)
		ctx->hooks->heap_gone(heap_id, ctx->hooks->payload);
}

/*
 * A round committed here.  Every round that brought versions changed the
 * heap's content behind the kernel's pages: they go at once (so the final
 * round, which often brings nothing new, leaves nothing to drop in the
 * downtime); the final one tells the runtime.
 */
int cmd__serve(const cmd_ctx *ctx, json_t *resp)
{
	const cmd_caller *c = ctx->hooks->caller;
	mg_serve_opts o = { c != NULL, c ? c->uid : 0, c ? c->gid : 0, HS_MODE_DEFAULT,
			    recv_allowed, !admin(ctx->hooks), received, dropped, ctx };
	mg_io in, out;

	(void)resp;
	migrate_ios(ctx->io, &in, &out);
	return mg_serve(ctx->store, &in, &out, &o);
}

/* May the sender run @def at all?  Heap rights are checked on the heap. */
static bool allowed(const cmd_def *def, const cmd_hooks *hooks)
{
	switch (def->access) {
	case CMD_CREATOR:
		return (hooks->caller && hooks->caller->create_all) || admin(hooks);
	case CMD_ADMIN:
		return admin(hooks);
	default:
		return true;
	}
}

/* Every required field of @def is in @req: "which heap? ..." if not. */
static int fields_check(const cmd_def *def, const json_t *req)
{
	for (const cmd_arg *a = def->args; a && !CMD_ARG_END(a); a++) {
		if (a->required && a->key && !json_object_get(req, a->key))
			return cmd__errno_set(-EINVAL, "which %s? (\"%s\" is missing)", a->help, a->key);
	}
	return 0;
}

json_t *cmd_exec(hs_store *s, const json_t *req, const cmd_hooks *hooks)
{
	return cmd_exec_stream(s, req, NULL, hooks);
}

json_t *cmd_exec_stream(hs_store *s, const json_t *req, const mg_io *io, const cmd_hooks *hooks)
{
	static const cmd_hooks none;   /* heapctl --store: no caller, no policy */
	const char *name = str_field(req, "cmd");
	cmd_ctx ctx = { s, NULL, NULL, req, hooks ? hooks : &none, io };
	const cmd_def *def;
	json_t *resp = NULL;
	int rc;

	msg_set = false;
	if (!json_is_object(req) || !name)
		return fail(-EINVAL, "a request is an object with a \"cmd\"");
	if (!(def = cmd_find(name)) || !def->run)
		return fail(-EINVAL, "unknown command");
	if (def->streams && !io)
		return fail(-EINVAL, "this command moves a stream: run it with heapctl, whose "
			    "stdin or stdout it reads or writes");
	if (!def->streams && io)
		return fail(-EINVAL, "this command moves no stream");
	if (!allowed(def, ctx.hooks))
		return fail(-EACCES, "permission denied: only the mount's owner and root may");
	if ((rc = fields_check(def, req)) < 0)
		return fail_store(rc);
	ctx.heap_name = str_field(req, "heap");
	if (json_object_get(req, "heap") && !ctx.heap_name)
		return fail(-EINVAL, "which heap? (\"heap\" is not a name)");
	if (def->access == CMD_HEAP_READ || def->access == CMD_HEAP_WRITE) {
		assert(ctx.heap_name);   /* the table makes "heap" required */
		/* Removing a heap is writing it, but its handler needs no handle. */
		if (def->opens_heap || ctx.hooks->caller) {
			if ((rc = hs_heap_open(&ctx.heap, s, ctx.heap_name)) < 0 ||
			    (rc = may_or_fail(ctx.hooks, ctx.heap,
					      def->access == CMD_HEAP_READ ? 4 : 2)) < 0)
				goto out;
			if (!def->opens_heap) {
				hs_heap_close(ctx.heap);
				ctx.heap = NULL;
			}
		}
	}
	if (!(resp = ok()))
		goto out;
	if ((rc = def->run(&ctx, resp)) < 0) {
		json_decref(resp);
		resp = NULL;
	}
out:
	if (rc < 0)
		resp = fail_store(rc);
	hs_heap_close(ctx.heap);
	return resp;
}

char *cmd_exec_text(hs_store *s, const char *text, size_t len, const cmd_hooks *hooks)
{
	json_error_t jerr;
	json_t *req = json_loadb(text, len, 0, &jerr), *resp;
	char *out;

	if (!req) {
		char why[256];

		snprintf(why, sizeof(why), "request is not JSON: %s", jerr.text);
		resp = fail(-EINVAL, why);
	} else {
		resp = cmd_exec(s, req, hooks);
		json_decref(req);
	}
	if (!resp)
		return NULL;
	out = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return out;
}
