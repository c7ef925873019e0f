#ifndef CL_CGROUPS_H
#define CL_CGROUPS_H
#include <stdint.h>
#include <sys/types.h>

/* bpf(2) has no glibc wrapper and takes a union whose layout Swift cannot name portably;
 * these fill in only what the cgroup v2 device filter needs. All return -1 and set errno
 * on failure. */

/* BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; returns the program fd (O_CLOEXEC
 * by the kernel). `log` receives the verifier's complaint if loading fails. */
int cl_bpf_prog_load_cgroup_device(const void *insns, uint32_t insn_count, const char *license,
                                   char *log, uint32_t log_size);
/* BPF_PROG_ATTACH; replace_fd >= 0 is passed with BPF_F_REPLACE. */
int cl_bpf_prog_attach(int prog_fd, int cgroup_fd, uint32_t attach_type, uint32_t flags, int replace_fd);
/* BPF_PROG_DETACH of one program from a cgroup. */
int cl_bpf_prog_detach(int prog_fd, int cgroup_fd, uint32_t attach_type);
/* BPF_PROG_QUERY: *count is the capacity of ids on entry, the number attached on return. */
int cl_bpf_prog_query(int cgroup_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count);
/* BPF_PROG_GET_FD_BY_ID. */
int cl_bpf_prog_get_fd_by_id(uint32_t id);

/* Constants from linux/bpf.h, kept out of the Swift namespace. */
uint32_t cl_bpf_attach_cgroup_device(void);
uint32_t cl_bpf_f_allow_multi(void);
uint32_t cl_bpf_f_replace(void);

#endif
