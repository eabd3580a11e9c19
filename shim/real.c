/*
 * real.c: the libc functions behind the wrappers, and the two cancellation functions system needs.
 *
 * We look symbols up ourselves, in the ELF hash tables of the loaded objects that
 * dl_iterate_phdr lists (in libc since glibc 2.2.4, and in musl), rather than with dlsym. The
 * reason is cost. LD_PRELOAD puts the shim in every process of a container, nearly all inert.
 * dlsym and pthread_create lived in libdl and libpthread before glibc 2.34, so linking
 * against them would make every process load those two libraries too. Measured here, that
 * doubles what the shim costs an exec of /bin/true. So the library needs nothing but libc.
 *
 *  - Real functions (REAL in zreap.h): the first definition after our own object in load
 *    order, as dlsym(RTLD_NEXT) finds it (then, for musl, which lists libc first, before
 *    it). Where several versions exist, the default one, as dlsym picks. Each is looked up at
 *    its wrapper's first call, not all in the constructor: most processes LD_PRELOAD reaches
 *    call few of the 45 wrapped functions, and looking all of them up was most of what the
 *    constructor cost an exec of /bin/true (11,700 of the shim's 32,000 instructions there,
 *    callgrind). The loaded objects' tables are recorded once, in the constructor (or in the
 *    first wrapper call that comes before it: glibc runs the app's libraries' constructors
 *    first); that takes the loader's lock. A lookup afterwards only reads those tables, which
 *    stay mapped for the life of the process (objects loaded with the program are never
 *    unloaded), so it is safe in a signal handler and in a vfork child. Two threads racing to
 *    a first call store the same pointer. Only a function found in none of them (one of an
 *    object loaded later, or none at all) is searched for as dlsym would, with the lock.
 *  - pthread_setcancelstate and pthread_testcancel (zr_cancel_ready), for the shim's system():
 *    the first definition anywhere, when the shim turns active. On glibc before 2.34 they are
 *    in libpthread, and a program that has not loaded it has no thread to cancel it: then
 *    they stay NULL, and system() does without them.
 *
 * A function this libc lacks (_Fork before glibc 2.34, execveat before 2.34, forkpty when
 * libutil is not loaded) is not found, and its wrapper reports ENOSYS.
 */
#include "zreap.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

struct zr_real zr_real;
struct zr_thread_api zr_thread;
static void *glibc_marker; /* gnu_get_libc_version, found only in glibc */

#define W(f) { #f, (void **)&zr_thread.f }
static const struct zr_want thread_wants[] = { W(pthread_setcancelstate), W(pthread_testcancel) };
#undef W
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the ELF lookup ---- */

static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

static uint32_t sysv_hash(const char *s)
{
	uint32_t h = 0;
	for (; *s; s++) {
		h = (h << 4) + (unsigned char)*s;
		uint32_t g = h & 0xf0000000u;
		if (g)
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

struct object {
	ElfW(Addr) base;
	const ElfW(Sym) *symtab;
	const char *strtab;
	const ElfW(Half) *versym;
	const uint32_t *gnu, *sysv;
};

/* glibc relocates these dynamic entries in memory, musl does not: an address below the
 * object's base is still relative. */
static const void *dyn_ptr(const struct object *o, ElfW(Addr) v)
{
	return (const void *)(v < o->base ? o->base + v : v);
}

static bool open_object(const struct dl_phdr_info *info, struct object *o)
{
	memset(o, 0, sizeof *o);
	o->base = info->dlpi_addr;
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(o->base + info->dlpi_phdr[i].p_vaddr);
	if (dyn == NULL)
		return false;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: o->symtab = dyn_ptr(o, dyn->d_un.d_ptr); break;
		case DT_STRTAB: o->strtab = dyn_ptr(o, dyn->d_un.d_ptr); break;
		case DT_VERSYM: o->versym = dyn_ptr(o, dyn->d_un.d_ptr); break;
		case DT_GNU_HASH: o->gnu = dyn_ptr(o, dyn->d_un.d_ptr); break;
		case DT_HASH: o->sysv = dyn_ptr(o, dyn->d_un.d_ptr); break;
		}
	}
	return o->symtab != NULL && o->strtab != NULL && (o->gnu != NULL || o->sysv != NULL);
}

static void *symbol_address(const struct object *o, uint32_t index, const char *name)
{
	const ElfW(Sym) *sym = &o->symtab[index];
	int type = ELF64_ST_TYPE(sym->st_info) /* the same bits in ELF32 */;
	int bind = ELF64_ST_BIND(sym->st_info);
	if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0 ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC) || (bind != STB_GLOBAL && bind != STB_WEAK))
		return NULL;
	if (o->versym != NULL && (o->versym[index] & 0x8000)) /* a hidden, non-default version */
		return NULL;
	if (strcmp(o->strtab + sym->st_name, name) != 0)
		return NULL;
	void *addr = (void *)(o->base + sym->st_value);
	if (type == STT_GNU_IFUNC)
		addr = ((void *(*)(void))addr)();
	return addr;
}

static void *find_in(const struct object *o, const char *name)
{
	if (o->gnu != NULL) {
		uint32_t nbuckets = o->gnu[0], symoffset = o->gnu[1], bloom_size = o->gnu[2];
		uint32_t bloom_shift = o->gnu[3];
		const ElfW(Addr) *bloom = (const ElfW(Addr) *)&o->gnu[4];
		const uint32_t *buckets = (const uint32_t *)&bloom[bloom_size];
		const uint32_t *chain = &buckets[nbuckets];
		uint32_t h = gnu_hash(name);
		const unsigned bits = sizeof(ElfW(Addr)) * 8;
		ElfW(Addr) word = bloom[(h / bits) % bloom_size];
		ElfW(Addr) mask = ((ElfW(Addr))1 << (h % bits)) | ((ElfW(Addr))1 << ((h >> bloom_shift) % bits));
		if ((word & mask) != mask || nbuckets == 0)
			return NULL;
		uint32_t i = buckets[h % nbuckets];
		if (i < symoffset)
			return NULL;
		for (;; i++) {
			uint32_t ch = chain[i - symoffset];
			if ((ch | 1) == (h | 1)) {
				void *addr = symbol_address(o, i, name);
				if (addr != NULL)
					return addr;
			}
			if (ch & 1)
				return NULL;
		}
	}
	uint32_t nbucket = o->sysv[0];
	const uint32_t *bucket = &o->sysv[2], *chain = &bucket[nbucket];
	for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i != STN_UNDEF; i = chain[i]) {
		void *addr = symbol_address(o, i, name);
		if (addr != NULL)
			return addr;
	}
	return NULL;
}

/* Our own object is the one that holds this very function. */
static bool holds_self(const struct dl_phdr_info *info)
{
	ElfW(Addr) self = (ElfW(Addr))&holds_self;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && self >= info->dlpi_addr + ph->p_vaddr &&
		    self < info->dlpi_addr + ph->p_vaddr + ph->p_memsz)
			return true;
	}
	return false;
}

struct search {
	const struct zr_want *wants;
	size_t count;
	bool after_self; /* only objects after ours (dlsym's RTLD_NEXT); else all but ours */
	bool self_seen;
};

static int search_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct search *s = data;
	bool is_self = holds_self(info);
	if (is_self)
		s->self_seen = true;
	if (is_self || (s->after_self && !s->self_seen))
		return 0;
	struct object o;
	if (!open_object(info, &o))
		return 0;
	bool missing = false;
	for (size_t i = 0; i < s->count; i++) {
		if (__atomic_load_n(s->wants[i].slot, __ATOMIC_RELAXED) != NULL)
			continue;
		void *addr = find_in(&o, s->wants[i].name);
		if (addr != NULL)
			__atomic_store_n(s->wants[i].slot, addr, __ATOMIC_RELAXED);
		else
			missing = true;
	}
	return missing ? 0 : 1;
}

/* True when every wanted symbol has been found. */
static bool search(const struct zr_want *wants, size_t count, bool after_self)
{
	struct search s = { wants, count, after_self, false };
	dl_iterate_phdr(search_object, &s);
	for (size_t i = 0; i < count; i++)
		if (__atomic_load_n(wants[i].slot, __ATOMIC_RELAXED) == NULL)
			return false;
	return true;
}

/* ---- real functions: the objects loaded with the program, recorded once ---- */

/* Room for the objects most programs load; a program that loads more gets a table mapped for
 * them all when they are recorded. */
#define SMALL_TABLE 32
static struct object small_table[SMALL_TABLE];
static struct object *objects = small_table;
static int object_room = SMALL_TABLE, object_count;
static int first_after_self;  /* objects[first_after_self..] followed ours in load order */
static bool self_seen;
static bool objects_overflow; /* more than object_room (loaded after a count, if mapped) */
enum { UNRECORDED, RECORDING, RECORDED };
static int objects_state; /* atomic */

static int count_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info, (void)size;
	++*(int *)data;
	return 0;
}

static int record_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size, (void)data;
	if (holds_self(info)) {
		first_after_self = object_count;
		self_seen = true;
		return 0;
	}
	if (object_count == object_room) {
		objects_overflow = true;
		if (!self_seen) /* then every one recorded comes before ours */
			first_after_self = object_count;
		return 1;
	}
	if (open_object(info, &objects[object_count]))
		object_count++;
	return 0;
}

/* True once the table can be read; false while another call is recording it: another thread,
 * or the frame this signal handler interrupted, which must not be waited for. */
static bool record_objects(void)
{
	int state = __atomic_load_n(&objects_state, __ATOMIC_ACQUIRE);
	if (state == RECORDED)
		return true;
	if (state == RECORDING || !__atomic_compare_exchange_n(&objects_state, &state, RECORDING, false,
							       __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&objects_state, __ATOMIC_ACQUIRE) == RECORDED;
	dl_iterate_phdr(record_object, NULL);
	if (objects_overflow) {
		/* Rare: count them all, map room for them, and record again. */
		int count = 0;
		dl_iterate_phdr(count_object, &count);
		struct object *table = zr_map((size_t)count * sizeof *table, true);
		if (table != NULL) {
			objects = table, object_room = count;
			object_count = first_after_self = 0;
			self_seen = objects_overflow = false;
			dl_iterate_phdr(record_object, NULL);
		}
	}
	__atomic_store_n(&objects_state, RECORDED, __ATOMIC_RELEASE);
	return true;
}

/* Searches the recorded objects after ours, then (musl) those before it. */
static void *find_recorded(const char *name)
{
	void *addr = NULL;
	if (record_objects()) {
		for (int i = first_after_self; addr == NULL && i < object_count; i++)
			addr = find_in(&objects[i], name);
		for (int i = 0; addr == NULL && !objects_overflow && i < first_after_self; i++)
			addr = find_in(&objects[i], name);
	}
	return addr;
}

void *zr_real_resolve(void **slot, const char *name)
{
	void *addr = find_recorded(name);
	if (addr == NULL) {
		/* The table is being recorded by another call, or is incomplete (objects were
		 * loaded while it was recorded), or the function is in an object loaded since
		 * (glibc's forkpty in a libutil a plugin loads), or nowhere: search every object
		 * as dlsym would, taking the loader's lock. */
		struct zr_want want = { name, &addr };
		if (!search(&want, 1, true))
			search(&want, 1, false);
	}
	if (addr != NULL)
		__atomic_store_n(slot, addr, __ATOMIC_RELAXED);
	return addr;
}

bool zr_find_all(const struct zr_want *wants, size_t count)
{
	return search(wants, count, false);
}

void zr_cancel_ready(void)
{
	search(thread_wants, COUNT(thread_wants), false);
}

bool zr_libc_matches(void)
{
	/* libc is loaded with the program: the recorded objects have it, and a musl program,
	 * which lacks the name, is not made to search every object again (unless another call is
	 * still recording them). */
	void *marker = __atomic_load_n(&glibc_marker, __ATOMIC_RELAXED);
	if (marker == NULL && (marker = find_recorded("gnu_get_libc_version")) == NULL &&
	    __atomic_load_n(&objects_state, __ATOMIC_ACQUIRE) != RECORDED)
		marker = zr_real_resolve(&glibc_marker, "gnu_get_libc_version");
	__atomic_store_n(&glibc_marker, marker, __ATOMIC_RELAXED);
	bool glibc = marker != NULL;
#ifdef ZR_LIBC_MUSL
	return !glibc;
#else
	return glibc;
#endif
}

/* glibc files an atfork handler under the object it belongs to, so as to drop it if that object
 * is unloaded. The shim is linked without the compiler's start files, which would define
 * __dso_handle (Makefile), and is never unloaded: any address of its own names it. */
static const char zr_dso_handle;

bool zr_atfork_child(void (*child)(void))
{
	/* pthread_atfork is a function of musl's libc, but glibc puts it in libc_nonshared.a,
	 * where it calls __register_atfork: linking it would make the glibc build unloadable into
	 * a musl program, which must rather find it inert (zr_libc_matches). */
	struct {
		int (*pthread_atfork)(void (*)(void), void (*)(void), void (*)(void));
		int (*register_atfork)(void (*)(void), void (*)(void), void (*)(void), void *);
	} f = { NULL, NULL };
	const struct zr_want wants[] = {
		{ "pthread_atfork", (void **)&f.pthread_atfork },
		{ "__register_atfork", (void **)&f.register_atfork },
	};
	search(wants, 2, false);
	if (f.register_atfork != NULL)
		return f.register_atfork(NULL, NULL, child, (void *)&zr_dso_handle) == 0;
	return f.pthread_atfork != NULL && f.pthread_atfork(NULL, NULL, child) == 0;
}
