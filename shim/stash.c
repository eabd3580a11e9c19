/*
 * stash.c: exit statuses the reaper collected for the app.
 *
 * An app that forks and never waits would fill the pid table with its own zombies. After
 * ZREAP_FORGOTTEN_MS uncollected, the reaper reaps such a child itself and keeps its status
 * here, so that a wait call the app makes later (through the shim) still returns it, with its
 * rusage, exactly once. The stash is a fixed array allocated on activation; entries move
 * free -> busy -> ready -> busy -> free with compare-and-swap, so both the reaper and wait
 * wrappers running in signal handlers can use it without locks. The reaper reserves a slot
 * before it reaps, so when the stash is full it leaves further zombies alone: a status is
 * never dropped.
 *
 * zr_words->wide_waiters and ->stashing keep a wide wait (any child, or a process group) from
 * missing an entry: the reaper stashes only while no wide wait is running, and a wide wait
 * that starts while it is stashing waits for it to finish before looking here (wait.c).
 */
#include "zreap.h"

#include <string.h>

#define STASH_SIZE 512

enum { FREE, BUSY, READY };

struct slot {
	atomic_int state;
	struct zr_exit e;
};

static struct slot *slots;
static atomic_int ready_count;

bool zr_stash_init(void)
{
	slots = zr_map(STASH_SIZE * sizeof *slots, false);
	return slots != NULL;
}

int zr_stash_reserve(void)
{
	for (int i = 0; i < STASH_SIZE; i++) {
		int expect = FREE;
		if (atomic_compare_exchange_strong(&slots[i].state, &expect, BUSY))
			return i;
	}
	return -1;
}

void zr_stash_publish(int slot, const struct zr_exit *e)
{
	slots[slot].e = *e;
	atomic_fetch_add(&ready_count, 1);
	atomic_store(&slots[slot].state, READY);
}

void zr_stash_release(int slot)
{
	atomic_store(&slots[slot].state, FREE);
}

static bool matches(const struct zr_exit *e, idtype_t idtype, id_t id)
{
	switch (idtype) {
	case P_ALL:
		return true;
	case P_PID:
		return (id_t)e->pid == id;
	case P_PGID:
		return (id_t)e->pgid == id;
	default:
		return false;
	}
}

bool zr_stash_take(idtype_t idtype, id_t id, bool keep, struct zr_exit *out)
{
	if (slots == NULL || atomic_load(&ready_count) == 0)
		return false;
	for (int i = 0; i < STASH_SIZE; i++) {
		/* A first look without claiming, so that waits for different pids do not
		 * hide each other's entries; checked again once the slot is ours. */
		int expect = READY;
		if (atomic_load(&slots[i].state) != READY || !matches(&slots[i].e, idtype, id))
			continue;
		if (!atomic_compare_exchange_strong(&slots[i].state, &expect, BUSY))
			continue;
		if (!matches(&slots[i].e, idtype, id)) {
			atomic_store(&slots[i].state, READY);
			continue;
		}
		*out = slots[i].e;
		if (keep) {
			atomic_store(&slots[i].state, READY);
		} else {
			atomic_fetch_sub(&ready_count, 1);
			atomic_store(&slots[i].state, FREE);
		}
		return true;
	}
	return false;
}

int zr_exit_wstatus(const struct zr_exit *e)
{
	switch (e->code) {
	case CLD_EXITED:
		return (e->status & 0xff) << 8;
	case CLD_DUMPED:
		return (e->status & 0x7f) | 0x80;
	default:
		return e->status & 0x7f;
	}
}
