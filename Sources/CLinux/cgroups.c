#include "clinux.h"
#include <linux/bpf.h>

static int cl_bpf(int cmd, union bpf_attr *attr) {
    return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int cl_bpf_prog_load_cgroup_device(const void *insns, uint32_t insn_count, const char *license,
                                   char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = insn_count;
    attr.license = (uint64_t)(uintptr_t)license;
    int fd = cl_bpf(BPF_PROG_LOAD, &attr);
    if (fd < 0 && log != NULL && log_size > 0) {
        /* Load again with the verifier log only on failure: logging slows loading down. */
        int saved = errno;
        log[0] = 0;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
        attr.log_level = 1;
        int again = cl_bpf(BPF_PROG_LOAD, &attr);
        if (again >= 0) { close(again); }
        errno = saved;
    }
    return fd;
}

int cl_bpf_prog_attach(int prog_fd, int cgroup_fd, uint32_t attach_type, uint32_t flags, int replace_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = attach_type;
    attr.attach_flags = flags;
    if (replace_fd >= 0) { attr.replace_bpf_fd = (uint32_t)replace_fd; }
    return cl_bpf(BPF_PROG_ATTACH, &attr);
}

int cl_bpf_prog_detach(int prog_fd, int cgroup_fd, uint32_t attach_type) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = attach_type;
    return cl_bpf(BPF_PROG_DETACH, &attr);
}

int cl_bpf_prog_query(int cgroup_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = attach_type;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *count;
    int rc = cl_bpf(BPF_PROG_QUERY, &attr);
    if (rc == 0) { *count = attr.query.prog_cnt; }
    return rc;
}

int cl_bpf_prog_get_fd_by_id(uint32_t id) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    return cl_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
}

uint32_t cl_bpf_attach_cgroup_device(void) { return BPF_CGROUP_DEVICE; }
uint32_t cl_bpf_f_allow_multi(void) { return BPF_F_ALLOW_MULTI; }
uint32_t cl_bpf_f_replace(void) { return BPF_F_REPLACE; }
