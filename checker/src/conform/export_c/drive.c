/* ---- the steps, in trace order ----------------------------------------------------------- */

static int is_io_cmd(int act)
{
	return act == A_FETCH || act == A_COMMIT || act == A_NEED_GET_DATA;
}

static struct got step(int i)
{
	const struct step *s = &steps[i];
	int kind = threads[s->thread].kind;
	struct got none = {G_DONE_NONE, 0, 0};
	if (kind == T_SERVER && s->act == A_WAIT_CQE) {
		int r = last_cmd[s->thread][s->tag];
		return r < 0 ? exec_error(E_NOTHING) : observe(r, (struct expect){X_DONE_NONE, 0});
	}
	if (kind == T_SERVER && s->act == A_EXIT) {
		if (send_step(i))
			return exec_error(E_GONE);
		return wait_gone(threads[s->thread].process & 1);
	}
	if (kind == T_SERVER) {
		if (send_step(i))
			return exec_error(E_GONE);
		if (is_io_cmd(s->act)) /* before the reply: a later wait may need it */
			last_cmd[s->thread][s->tag] = i;
		if (!WAIT_FOR(step_ms, reply_set[i])) {
			/* an io command predicted pending whose io_uring_enter has not returned: the
			 * thread sleeps inside the driver (ublk_fetch waiting for ub->mutex); its CQE
			 * (or the hang) is judged by the steps that wait for it */
			if (is_io_cmd(s->act) && s->expect.kind == X_PENDING) {
				pump(0);
				return done_or(i, 1);
			}
			return (struct got){G_HANG, 0, 0};
		}
		if (reply_err[i])
			return exec_error(reply_err[i]);
		switch (s->act) {
		case A_FETCH: case A_COMMIT: case A_NEED_GET_DATA:
		case A_REGISTER: case A_UNREGISTER: case A_BAD_TYPE:
			/* a cmd predicted to complete within its action is waited for (its CQE may
			 * come from a kworker); one predicted pending is checked now */
			return observe(i, s->expect);
		case A_FIXED_IO: /* the model's result is "issued": a full transfer is 0 */
			return reply_has[i] ? (struct got){G_DONE, reply_val[i] > 0 ? 0 : reply_val[i], 0}
					    : none;
		case A_USER_COPY:
			return reply_has[i] ? (struct got){G_DONE, reply_val[i], 0} : none;
		default:
			return none;
		}
	}
	if (kind == T_SUBMITTER && (s->act == A_READ || s->act == A_WRITE)) {
		last_ref[s->thread] = i;
		spawn(bio_thread, i, s->act, 0, 0);
		return observe(i, s->expect);
	}
	if ((kind == T_SUBMITTER && s->act == A_BIO_WAIT) ||
	    (kind == T_CONTROL && s->act == A_CTRL_WAIT)) {
		int r = last_ref[s->thread];
		return r < 0 ? exec_error(E_NOTHING) : observe(r, (struct expect){X_DONE_NONE, 0});
	}
	if (kind == T_CONTROL && s->act >= A_START_DEV && s->act <= A_UPDATE_SIZE) {
		static const uint32_t ops[] = {UBLK_U_CMD_START_DEV, UBLK_U_CMD_STOP_DEV,
					       UBLK_U_CMD_START_USER_RECOVERY,
					       UBLK_U_CMD_END_USER_RECOVERY, UBLK_U_CMD_DEL_DEV,
					       UBLK_U_CMD_QUIESCE_DEV, UBLK_U_CMD_UPDATE_SIZE};
		/* data[0]: the server's pid (START_DEV, END_USER_RECOVERY), QUIESCE_DEV's
		 * timeout in ms (0: none) or UPDATE_SIZE's size (the one the device has) */
		int pid = s->act == A_START_DEV ? procs[0].server_pid
			  : s->act == A_END_USER_RECOVERY ? procs[1].server_pid
			  : s->act == A_QUIESCE_DEV ? s->result
			  : s->act == A_UPDATE_SIZE ? DEV_BYTES >> 9 : 0;
		last_ref[s->thread] = i;
		if (s->act == A_DEL_DEV)
			del_step = i;
		spawn(ctrl_thread, i, ops[s->act - A_START_DEV], pid,
		      s->act == A_START_USER_RECOVERY && s->poll);
		if (s->expect.kind == X_PENDING) {
			/* a control command predicted to wait inside (STOP_DEV in del_gendisk with
			 * ub->mutex held; DEL_DEV for the last reference to /dev/ublkcN): give it
			 * 500 ms to get there (or to finish: a divergence) before the next action */
			WAIT_FOR(step_ms < 500 ? step_ms : 500, done_set[i]);
		}
		struct got g = observe(i, s->expect);
		/* the new server process opens /dev/ublkcN and sets up its rings before the next
		 * action */
		if (s->act == A_START_USER_RECOVERY && g.kind == G_DONE && g.res == 0 &&
		    has_servers(1) && spawn_proc(1))
			return (struct got){G_ERROR, 0, "server process 1 did not get ready"};
		return g;
	}
	if (kind == T_KILLER && s->act == A_KILL) {
		if (procs[0].pid > 0)
			kill(procs[0].pid, SIGKILL);
		return wait_gone(0);
	}
	if (kind == T_FD_HOLDER && s->act == A_CLOSE_FD) {
		if (holder >= 0)
			close(holder);
		holder = -1;
		return none;
	}
	return exec_error(E_BAD_ACT);
}

/* ---- report: one JSON line per observation; stop at the first disagreement --------------- */

static void print_got(struct got g)
{
	switch (g.kind) {
	case G_DONE: printf("{\"Done\":%d}", g.res); break;
	case G_DONE_NONE: printf("{\"Done\":null}"); break;
	case G_PENDING: printf("\"Pending\""); break;
	case G_HANG: printf("\"Hang\""); break;
	default: printf("{\"Error\":\"%s\"}", g.err); break;
	}
}

static const char *show_expect(struct expect e, char *b)
{
	switch (e.kind) {
	case X_DONE: snprintf(b, 32, "%d", e.res); return b;
	case X_DONE_NONE: return "done";
	case X_PENDING: return "pending";
	default: return "blocks";
	}
}

/* 0: as the model predicts, go on; 1: conforms up to here, stop (a predicted hang);
 * 2: disagrees, stop */
static int report(const char *event, int i, int of, const char *what, struct expect e,
		  struct got g)
{
	char b[32];
	printf("{\"event\":\"%s\",\"step\":%d,", event, i);
	if (of >= 0)
		printf("\"of\":%d,", of);
	printf("\"what\":\"%s\",\"expect\":\"%s\",\"got\":", what, show_expect(e, b));
	print_got(g);
	printf("}\n");
	fflush(stdout);
	if (g.kind == G_HANG)
		return e.kind == X_BLOCKS ? 1 : 2;
	if (g.kind == G_ERROR || e.kind == X_BLOCKS)
		return 2;
	if (e.kind == X_PENDING)
		return g.kind != G_PENDING ? 2 : 0;
	if (e.kind == X_DONE_NONE)
		return g.kind != G_DONE_NONE ? 2 : 0;
	return g.kind != G_DONE || g.res != e.res ? 2 : 0;
}

static int drive(void)
{
	for (int i = 0; i < NSTEPS; i++) {
		const struct step *s = &steps[i];
		int v = report("step", i, -1, s->what, s->expect, step(i));
		if (v)
			return v;
		for (int k = 0; k < s->n_after; k++) {
			const struct effect *e = &s->after[k];
			v = report("effect", i, e->of, steps[e->of].what, e->expect,
				   observe(e->of, e->expect));
			if (v)
				return v;
		}
	}
	return 0;
}

static void line(const char *event, const char *key, const char *fmt, long long v)
{
	printf("{\"event\":\"%s\",\"%s\":", event, key);
	printf(fmt, v);
	printf("}\n");
	fflush(stdout);
}

/* the end of the run: 0 as the model predicts, 1 a disagreement, 4 refused (kselftest skip) */
static int finish(int rc, const char *why)
{
	printf("{\"event\":\"end\",\"rc\":%d,\"why\":\"%s\"}\n", rc, why);
	fflush(stdout);
	const char *f = getenv("UBLK_REALDEV_DONE_FILE"); /* the VM's /init: the run is over */
	FILE *o = f ? fopen(f, "w") : NULL;
	if (o) {
		fprintf(o, "%d\n", rc);
		fclose(o);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--timeout-ms") && atoi(argv[2]) > 0)
		step_ms = atoi(argv[2]);
	else if (argc != 1)
		return fprintf(stderr, "usage: %s [--timeout-ms N]\n", argv[0]), 2;
	signal(SIGPIPE, SIG_IGN);
	memset(last_cmd, -1, sizeof(last_cmd));
	memset(last_ref, -1, sizeof(last_ref));
	int ev[2];
	if (pipe2(ev, O_CLOEXEC) || fcntl(ev[0], F_SETFL, O_NONBLOCK))
		return finish(2, "pipe");
	ev_rd = ev[0], ev_wr = ev[1];
	struct ctrl c;
	if (ctrl_open(&c) < 0)
		return finish(4, "/dev/ublk-control: cannot open (root and ublk_drv needed)");
	int ctl_ms = step_ms > 5000 ? step_ms : 5000;
	uint64_t features = 0;
	if (ctrl_cmd(&c, UBLK_U_CMD_GET_FEATURES, ~0U, 0, &features, 8, ctl_ms) != 0)
		return finish(2, "GET_FEATURES failed");
	line("features", "flags", "\"%#llx\"", (long long)features);
	/* no partition probe at START_DEV where the kernel knows the flag (7.2); 6.12 skips it
	 * because the server drops CAP_SYS_ADMIN */
	uint64_t flags = DEV_FLAGS | (features & UBLK_F_NO_AUTO_PART_SCAN);
	if (flags & ~features)
		return finish(4, "the kernel lacks a feature the program needs");
	struct ublksrv_ctrl_dev_info info = {NR_QUEUES, DEPTH, 0, 0, BUF_BYTES, ~0U, 0, 0, flags, 0, 0, 0, 0, 0};
	int r = ctrl_cmd(&c, UBLK_U_CMD_ADD_DEV, ~0U, 0, &info, sizeof(info), ctl_ms);
	if (r < 0)
		return finish(2, "ADD_DEV failed");
	dev_id = (int)info.dev_id;
	line("add_dev", "dev_id", "%lld", dev_id);
	int rc;
	const char *why = "";
	struct ublk_params p;
	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	p.basic = (struct ublk_param_basic){0, 9, 12, 12, 9, BUF_BYTES >> 9, 0, DEV_BYTES >> 9, 0};
	if (flags & ~info.flags) {
		rc = 4, why = "ADD_DEV dropped a flag the program needs";
	} else if (ctrl_cmd(&c, UBLK_U_CMD_SET_PARAMS, dev_id, 0, &p, sizeof(p), ctl_ms) != 0) {
		rc = 2, why = "SET_PARAMS failed";
	} else if (spawn_proc(0)) {
		rc = 2, why = "server process 0 did not get ready";
	} else {
		rc = 0;
		if (HAS_FD_HOLDER) { /* another holder of /dev/ublkcN: a pidfd_getfd duplicate */
			int pfd = (int)syscall(__NR_pidfd_open, procs[0].pid, 0);
			holder = pfd < 0 ? -1 : (int)syscall(__NR_pidfd_getfd, pfd, procs[0].cdev_fd, 0);
			if (holder < 0)
				rc = 2, why = "pidfd_getfd";
		}
		if (!rc) {
			int v = drive();
			rc = v == 2 ? 1 : 0;
			why = v == 0 ? "conforms" : v == 1 ? "hangs as the model predicts" : "disagrees";
		}
	}
	/* teardown on every path: the server processes die, then the device is stopped and
	 * deleted (unless the program's own DEL_DEV did) */
	if (holder >= 0)
		close(holder);
	reap(0);
	reap(1);
	if (del_step >= 0 && WAIT_FOR(step_ms, done_set[del_step]) && done_res[del_step] == 0)
		return finish(rc, why);
	ctrl_simple(&c, UBLK_U_CMD_STOP_DEV, dev_id, 0, ctl_ms);
	r = ctrl_simple(&c, rc == 4 ? UBLK_U_CMD_DEL_DEV_ASYNC : UBLK_U_CMD_DEL_DEV, dev_id, 0, ctl_ms);
	if (r != 0 && rc == 0)
		rc = 1, why = "DEL_DEV after the program failed";
	return finish(rc, why);
}
