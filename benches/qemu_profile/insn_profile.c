/*
 * A QEMU TCG plugin that counts the guest instructions executed at every address, for an instruction-count
 * profile of aarch64 code under `qemu-aarch64` (benches/neon_profile.sh). Instruction counts are not times, but
 * they are exact and the same on every host, which timings under an emulator are not.
 *
 * Debian's qemu-user ships without plugins and without `qemu-plugin.h`, so the few API entry points used here
 * are declared below, as QEMU 7.2 documents them (plugin API version 1; newer QEMUs keep these calls).
 *
 * Build: gcc -O2 -shared -fPIC -o insn_profile.so insn_profile.c
 * Use:   qemu-aarch64 -plugin ./insn_profile.so,out=counts.txt PROGRAM ARGS...
 * Output, one line per translated block that ran: "B <first-address> <executions> <address> <address> ...",
 * then "S <address> <symbol>" for every block's first address and the symbol QEMU's symbol table puts it in
 * (a function's entry block gives the load bias of a position-independent binary).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* not read here */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One record per translation: a block translated twice (after a flush) gets two records, summed by the report. */
struct block {
    uint64_t execs; /* incremented inline by the translated code: one add per execution of the block */
    size_t n;
    uint64_t *addrs;
    struct block *next;
};

struct symbol {
    uint64_t addr;
    char *name;
    struct symbol *next;
};

static struct block *blocks;
static struct symbol *symbols;
static char out_path[4096] = "insn_profile.txt";

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct block *b = calloc(1, sizeof *b);
    uint64_t *addrs = calloc(n ? n : 1, sizeof *addrs);
    if (!b || !addrs) {
        free(b);
        free(addrs);
        return; /* out of memory: this block goes uncounted rather than crashing the guest */
    }
    b->n = n;
    b->addrs = addrs;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        addrs[i] = qemu_plugin_insn_vaddr(insn);
        /* QEMU names the symbol containing an address; a block's first instruction is enough to locate it. */
        const char *name = i == 0 ? qemu_plugin_insn_symbol(insn) : NULL;
        if (name) {
            struct symbol *s = malloc(sizeof *s);
            if (s && (s->name = strdup(name))) {
                s->addr = addrs[i];
                s->next = symbols;
                symbols = s;
            } else {
                free(s);
            }
        }
    }
    /* Translation runs under QEMU's translation lock, so this list needs no lock of its own. */
    b->next = blocks;
    blocks = b;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "insn_profile: cannot write %s\n", out_path);
        return;
    }
    for (struct block *b = blocks; b; b = b->next) {
        if (!b->execs || !b->n)
            continue;
        fprintf(f, "B %llx %llu", (unsigned long long)b->addrs[0], (unsigned long long)b->execs);
        for (size_t i = 0; i < b->n; i++)
            fprintf(f, " %llx", (unsigned long long)b->addrs[i]);
        fputc('\n', f);
    }
    for (struct symbol *s = symbols; s; s = s->next)
        fprintf(f, "S %llx %s\n", (unsigned long long)s->addr, s->name);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else {
            fprintf(stderr, "insn_profile: unknown argument %s (takes out=PATH)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
