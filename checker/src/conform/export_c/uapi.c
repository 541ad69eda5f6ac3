#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- io_uring uapi (the fields used here; x86-64) ------------------------------------- */

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define IORING_SETUP_SQE128 (1U << 10)
#define IORING_OFF_SQ_RING 0ULL
#define IORING_OFF_CQ_RING 0x8000000ULL
#define IORING_OFF_SQES 0x10000000ULL
#define IORING_ENTER_GETEVENTS (1U << 0)
#define IORING_ENTER_EXT_ARG (1U << 3)
#define IORING_REGISTER_FILES 2
#define IORING_REGISTER_EVENTFD 4
#define IORING_REGISTER_BUFFERS2 15
#define IORING_RSRC_REGISTER_SPARSE (1U << 0)
#define IORING_OP_READ_FIXED 4
#define IORING_OP_WRITE_FIXED 5
#define IORING_OP_URING_CMD 46
#define IOSQE_FIXED_FILE (1U << 0)

struct io_sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t user_addr;
};
struct io_cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t user_addr;
};
struct io_uring_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd;
	uint32_t resv[3];
	struct io_sqring_offsets sq_off;
	struct io_cqring_offsets cq_off;
};
/* struct io_uring_sqe, by byte offset: 0 opcode, 1 flags, 4 fd, 8 off (uring_cmd: cmd_op),
 * 16 addr, 24 len, 32 user_data, 40 buf_index, 48 cmd[] (16 bytes, 80 with SQE128) */
struct io_uring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};
struct io_uring_rsrc_register {
	uint32_t nr, flags;
	uint64_t resv2, data, tags;
};
struct io_uring_getevents_arg {
	uint64_t sigmask;
	uint32_t sigmask_sz, pad;
	uint64_t ts;
};
struct kernel_timespec {
	int64_t tv_sec;
	long long tv_nsec;
};

/* ---- ublk uapi (include/uapi/linux/ublk_cmd.h; x86-64) -------------------------------- */

#define UBLK_IOC(dir, nr, size) (((dir) << 30) | ((size) << 16) | ('u' << 8) | (nr))
#define UBLK_IOR(nr) UBLK_IOC(2U, nr, 32U)
#define UBLK_IOWR(nr) UBLK_IOC(3U, nr, 32U)
#define UBLK_IO_IOWR(nr) UBLK_IOC(3U, nr, 16U)
#define UBLK_U_CMD_GET_DEV_INFO UBLK_IOR(0x02)
#define UBLK_U_CMD_ADD_DEV UBLK_IOWR(0x04)
#define UBLK_U_CMD_DEL_DEV UBLK_IOWR(0x05)
#define UBLK_U_CMD_START_DEV UBLK_IOWR(0x06)
#define UBLK_U_CMD_STOP_DEV UBLK_IOWR(0x07)
#define UBLK_U_CMD_SET_PARAMS UBLK_IOWR(0x08)
#define UBLK_U_CMD_START_USER_RECOVERY UBLK_IOWR(0x10)
#define UBLK_U_CMD_END_USER_RECOVERY UBLK_IOWR(0x11)
#define UBLK_U_CMD_QUIESCE_DEV UBLK_IOWR(0x16)
#define UBLK_U_CMD_UPDATE_SIZE UBLK_IOWR(0x15)
#define UBLK_U_CMD_GET_FEATURES UBLK_IOR(0x13)
#define UBLK_U_CMD_DEL_DEV_ASYNC UBLK_IOR(0x14)
#define UBLK_U_IO_FETCH_REQ UBLK_IO_IOWR(0x20)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ UBLK_IO_IOWR(0x21)
#define UBLK_U_IO_NEED_GET_DATA UBLK_IO_IOWR(0x22)
#define UBLK_U_IO_REGISTER_IO_BUF UBLK_IO_IOWR(0x23)
#define UBLK_U_IO_UNREGISTER_IO_BUF UBLK_IO_IOWR(0x24)
/* an ioctl-encoded io command of the wrong type ('v'): -EOPNOTSUPP */
#define BAD_TYPE_IO_CMD ((3U << 30) | (16U << 16) | ('v' << 8) | 0x20)

#define UBLK_S_DEV_LIVE 1
#define UBLK_F_NO_AUTO_PART_SCAN (1ULL << 18)
#define UBLK_PARAM_TYPE_BASIC (1U << 0)
#define UBLK_IO_OP_READ 0
#define UBLK_IO_OP_WRITE 1
#define UBLKSRV_IO_BUF_OFFSET 0x80000000ULL
#define UBLK_MAX_QUEUE_DEPTH 4096

struct ublksrv_ctrl_cmd {
	uint32_t dev_id;
	uint16_t queue_id, len;
	uint64_t addr;
	uint64_t data[1];
	uint16_t dev_path_len, pad;
	uint32_t reserved;
};
struct ublksrv_ctrl_dev_info {
	uint16_t nr_hw_queues, queue_depth, state, pad0;
	uint32_t max_io_buf_bytes, dev_id;
	int32_t ublksrv_pid;
	uint32_t pad1;
	uint64_t flags, ublksrv_flags;
	uint32_t owner_uid, owner_gid;
	uint64_t reserved1, reserved2;
};
struct ublksrv_io_cmd {
	uint16_t q_id, tag;
	int32_t result;
	uint64_t addr; /* buffer address, or the buffer index of (UN)REGISTER_IO_BUF */
};
struct ublksrv_io_desc {
	uint32_t op_flags, nr_sectors;
	uint64_t start_sector, addr;
};
struct ublk_param_basic {
	uint32_t attrs;
	uint8_t logical_bs_shift, physical_bs_shift, io_opt_shift, io_min_shift;
	uint32_t max_sectors, chunk_sectors;
	uint64_t dev_sectors, virt_boundary_mask;
};
/* 7.2's struct ublk_params (152 bytes): only basic is set, the other groups stay zero */
struct ublk_params {
	uint32_t len, types;
	struct ublk_param_basic basic;
	uint8_t rest[112];
};
_Static_assert(sizeof(struct io_uring_params) == 120, "io_uring_params");
_Static_assert(sizeof(struct ublksrv_ctrl_cmd) == 32, "ctrl cmd");
_Static_assert(sizeof(struct ublksrv_ctrl_dev_info) == 64, "dev info");
_Static_assert(sizeof(struct ublksrv_io_cmd) == 16, "io cmd");
_Static_assert(sizeof(struct ublksrv_io_desc) == 24, "io desc");
_Static_assert(sizeof(struct ublk_params) == 152, "params");

#define BUF_BYTES (64 << 10)
#define DEV_BYTES (1 << 20)
#define IO_BYTES 4096

/* ---- a minimal io_uring: raw syscalls, no liburing ------------------------------------ */

struct ring {
	int fd, sqe_size;
	uint32_t *sq_head, *sq_tail, *sq_mask, *sq_array, sq_entries;
	uint32_t *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	uint8_t *sqes;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
	uint32_t pending; /* SQEs queued, not yet submitted */
};

static int ring_setup(struct ring *r, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	memset(r, 0, sizeof(*r));
	p.flags = flags;
	r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	r->sqe_size = (flags & IORING_SETUP_SQE128) ? 128 : 64;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = (size_t)p.sq_entries * r->sqe_size;
	r->sq_map = mmap(0, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			 IORING_OFF_SQ_RING);
	r->cq_map = mmap(0, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			 IORING_OFF_CQ_RING);
	r->sqes = mmap(0, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (r->sq_map == MAP_FAILED || r->cq_map == MAP_FAILED || r->sqes == MAP_FAILED)
		return -ENOMEM;
	uint8_t *sq = r->sq_map, *cq = r->cq_map;
	r->sq_head = (uint32_t *)(sq + p.sq_off.head);
	r->sq_tail = (uint32_t *)(sq + p.sq_off.tail);
	r->sq_mask = (uint32_t *)(sq + p.sq_off.ring_mask);
	r->sq_array = (uint32_t *)(sq + p.sq_off.array);
	r->sq_entries = p.sq_entries;
	r->cq_head = (uint32_t *)(cq + p.cq_off.head);
	r->cq_tail = (uint32_t *)(cq + p.cq_off.tail);
	r->cq_mask = (uint32_t *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* unmap and close (the kernel frees the ring once nothing else holds it) */
static void ring_close(struct ring *r)
{
	munmap(r->sq_map, r->sq_len);
	munmap(r->cq_map, r->cq_len);
	munmap(r->sqes, r->sqes_len);
	close(r->fd);
	r->fd = -1;
}

/* a zeroed SQE at the tail (queued; ring_submit hands it to the kernel) */
static uint8_t *ring_sqe(struct ring *r)
{
	uint32_t tail = *r->sq_tail + r->pending;
	if (tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) >= r->sq_entries)
		return NULL;
	uint32_t i = tail & *r->sq_mask;
	uint8_t *s = r->sqes + (size_t)i * r->sqe_size;
	memset(s, 0, r->sqe_size);
	r->sq_array[i] = i;
	r->pending++;
	return s;
}

static int ring_enter(int fd, unsigned submit, unsigned min, unsigned flags, void *arg, size_t sz)
{
	long n = syscall(__NR_io_uring_enter, fd, submit, min, flags, arg, sz);
	return n < 0 ? -errno : (int)n;
}

/* io_uring_enter(fd, queued, 0, 0): the uring_cmd handlers run in this call */
static int ring_submit(struct ring *r)
{
	uint32_t n = r->pending;
	__atomic_store_n(r->sq_tail, *r->sq_tail + n, __ATOMIC_RELEASE);
	r->pending = 0;
	for (;;) {
		int ret = ring_enter(r->fd, n, 0, 0, NULL, 0);
		if (ret != -EINTR)
			return ret;
	}
}

/* one posted CQE, without entering the kernel: 1 if one was taken */
static int ring_peek(struct ring *r, struct io_uring_cqe *out)
{
	uint32_t head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return 0;
	*out = r->cqes[head & *r->cq_mask];
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return 1;
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* wait for one CQE until `deadline` (ms, CLOCK_MONOTONIC): io_uring_enter(GETEVENTS, EXT_ARG
 * with the time left). 1: a CQE in *out, 0: timeout, <0: -errno */
static int ring_wait(struct ring *r, int64_t deadline, struct io_uring_cqe *out)
{
	for (;;) {
		if (ring_peek(r, out))
			return 1;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct kernel_timespec ts = {left / 1000, (left % 1000) * 1000000};
		struct io_uring_getevents_arg a = {0, 0, 0, (uint64_t)(uintptr_t)&ts};
		int ret = ring_enter(r->fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &a,
				     sizeof(a));
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY)
			return ret;
	}
}

static int ring_register(struct ring *r, unsigned op, void *arg, unsigned nr)
{
	long n = syscall(__NR_io_uring_register, r->fd, op, arg, nr);
	return n < 0 ? -errno : 0;
}

/* ---- the program's shape (the tables below are generated from the trace) -------------- */

enum act {
	A_FETCH, A_COMMIT, A_NEED_GET_DATA, A_REGISTER, A_UNREGISTER, A_BAD_TYPE, A_FIXED_IO,
	A_USER_COPY, A_WAIT_CQE, A_EXIT, A_THREAD_EXIT, A_CLOSE_RING, A_READ, A_WRITE,
	A_BIO_WAIT, A_START_DEV, A_STOP_DEV, A_START_USER_RECOVERY, A_END_USER_RECOVERY,
	A_DEL_DEV, A_QUIESCE_DEV, A_UPDATE_SIZE, A_CTRL_WAIT, A_KILL, A_CLOSE_FD,
};
enum kind { T_SERVER, T_SUBMITTER, T_CONTROL, T_KILLER, T_FD_HOLDER };
/* what the model predicts: done with a result, done without one, pending, blocks */
enum expect_kind { X_DONE, X_DONE_NONE, X_PENDING, X_BLOCKS };
struct expect {
	int kind, res;
};
struct thread_spec {
	const char *name;
	int kind, fixed_file, process;
	int queue; /* a server thread's hw queue; a submitter is pinned to a CPU of it */
};
struct effect {
	int of; /* the step whose command or bio completes (or stays pending) */
	struct expect expect;
};
struct step {
	int thread, act;
	int tag, idx, result, buf, poll;
	struct expect expect;
	const char *what;
	int n_after;
	const struct effect *after;
	long ulen; /* A_USER_COPY: length + 1 (0: IO_BYTES) */
};
