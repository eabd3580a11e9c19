/*
 * real.c: what the shim uses of libc, found without the loader's help: the functions behind
 * the wrappers, errno and environ, the auxiliary vector, and the two cancellation functions
 * system needs.
 *
 * The library imports nothing (str.c says why). It looks symbols up itself, in the ELF hash
 * tables of the loaded objects, rather than with dlsym or through the loader. The reason is
 * cost: LD_PRELOAD puts the shim in every process of a container, nearly all inert, and the
 * loader binds every import at every exec. dlsym and pthread_create lived in libdl and
 * libpthread before glibc 2.34, so linking against them would make every process load those
 * two libraries too (measured: it doubles what the shim costs an exec of /bin/true).
 *
 *  - The loaded objects: the loader's own list, struct r_debug, which debuggers read. Both
 *    glibc's and musl's loaders put its address in the program's DT_DEBUG entry; the program's
 *    headers are at the auxiliary vector's AT_PHDR. Where the program has none (or is the
 *    loader itself, run as `ld.so PROGRAM`), glibc's loader exports the list as _r_debug. The
 *    list is read without the loader's lock, as a debugger reads it, and only in the
 *    constructor (or a wrapper call that comes before it: glibc runs the app's libraries'
 *    constructors first), when it holds the objects loaded with the program, which are never
 *    unloaded. Their tables are recorded then, once.
 *  - The auxiliary vector: glibc passes constructors the environment the program started
 *    with, and the vector follows its end. musl passes nothing; the musl build imports
 *    getauxval and __environ, cheap there (musl has no symbol versions and no IFUNCs).
 *  - Real functions (REAL in zreap.h): the first definition after our own object in load
 *    order, as dlsym(RTLD_NEXT) finds it (then, for musl, which lists libc first, before
 *    it). Where several versions exist, the default one, as dlsym picks. Each is looked up at
 *    its wrapper's first call, not all in the constructor: most processes LD_PRELOAD reaches
 *    call few of the 45 wrapped functions. The active process looks up all of them at once
 *    (zr_real_resolve_all), for its fork children's sake. A lookup only reads the recorded
 *    tables, so it is safe in a signal handler and in a vfork child. Two threads racing to a
 *    first call store the same pointer. Only a function found in none of them (one of an
 *    object loaded later, or none at all) is searched for as dlsym would, with libc's
 *    dl_iterate_phdr, which takes the loader's lock.
 *  - errno and environ: __errno_location, and __environ (the first definition in load order:
 *    a program that names environ has its own copy, which libc then uses too).
 *  - pthread_setcancelstate and pthread_testcancel (zr_cancel_ready), for the shim's system():
 *    the first definition anywhere, when the shim turns active. On glibc before 2.34 they are
 *    in libpthread, and a program that has not loaded it has no thread to cancel it: then
 *    they stay NULL, and system() does without them.
 *
 * A function this libc lacks (_Fork before glibc 2.34, execveat before 2.34, forkpty when
 * libutil is not loaded) is not found, and its wrapper reports ENOSYS.
 */
#include "zreap.h"

#include <elf.h>
#include <link.h>
#include <string.h>

struct zr_real zr_real;
struct zr_thread_api zr_thread;
static void *glibc_marker; /* gnu_get_libc_version, found only in glibc */

/* Our own dynamic section, which tells our object in the loader's list. */
extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

/* ---- the auxiliary vector ---- */

#ifdef ZR_LIBC_MUSL
unsigned long getauxval(unsigned long type);
extern char **__environ;
#else
static const ElfW(auxv_t) *start_auxv; /* NULL: unknown; else ends with AT_NULL */
#endif

char **zr_start(int argc, char **argv, char **envp)
{
#ifdef ZR_LIBC_MUSL
	(void)argc, (void)argv, (void)envp;
	return __environ;
#else
	/* Only the array the program started with, on the stack, is followed by the vector: the
	 * constructor of an object loaded later by dlopen gets the environment of the moment. An
	 * unsetenv shifts that array down over its end, which then reads as an empty vector. */
	if (argv == NULL || envp != argv + argc + 1)
		return envp;
	char **e = envp;
	while (*e != NULL)
		e++;
	start_auxv = (const ElfW(auxv_t) *)(e + 1);
	return envp;
#endif
}

bool zr_auxval(unsigned long type, unsigned long *out)
{
#ifdef ZR_LIBC_MUSL
	*out = getauxval(type);
	return *out != 0 || type == AT_SECURE;
#else
	const ElfW(auxv_t) *a = start_auxv;
	if (a != NULL && a->a_type != AT_NULL) {
		for (; a->a_type != AT_NULL; a++)
			if (a->a_type == type) {
				*out = a->a_un.a_val;
				return true;
			}
		return false;
	}
	return zr_proc_auxval(type, out);
#endif
}

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

static bool open_dynamic(ElfW(Addr) base, const ElfW(Dyn) *dyn, struct object *o)
{
	memset(o, 0, sizeof *o);
	o->base = base;
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

/* The dynamic section among an object's program headers, loaded at base. */
static const ElfW(Dyn) *dynamic_of(ElfW(Addr) base, const ElfW(Phdr) *ph, size_t phnum)
{
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			return (const ElfW(Dyn) *)(base + ph[i].p_vaddr);
	return NULL;
}

static void *symbol_address(const struct object *o, uint32_t index, const char *name)
{
	const ElfW(Sym) *sym = &o->symtab[index];
	int type = ELF64_ST_TYPE(sym->st_info) /* the same bits in ELF32 */;
	int bind = ELF64_ST_BIND(sym->st_info);
	if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0 ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT) ||
	    (bind != STB_GLOBAL && bind != STB_WEAK))
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

/* ---- the loader's list ---- */

/* The program's base from its headers at AT_PHDR: PT_PHDR places them. Without one (the loader
 * run as the program), they follow the ELF header at the start of the first page. */
static ElfW(Addr) program_base(const ElfW(Phdr) *ph, size_t phnum)
{
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			return (ElfW(Addr))ph - ph[i].p_vaddr;
	ElfW(Addr) first = (ElfW(Addr))ph & ~(ElfW(Addr))4095;
	for (size_t i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			return first - (ph[i].p_vaddr & ~(ElfW(Addr))4095);
	return first;
}

/* _r_debug, as the loader at base exports it (glibc's does). */
static const struct r_debug *exported_list(ElfW(Addr) base, const ElfW(Phdr) *ph, size_t phnum)
{
	const ElfW(Dyn) *dyn = dynamic_of(base, ph, phnum);
	struct object o;
	if (dyn == NULL || !open_dynamic(base, dyn, &o))
		return NULL;
	return find_in(&o, "_r_debug");
}

static const struct r_debug *loader_list(void)
{
	unsigned long at_phdr, at_phnum, at_base;
	if (!zr_auxval(AT_PHDR, &at_phdr) || !zr_auxval(AT_PHNUM, &at_phnum))
		return NULL;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)at_phdr;
	ElfW(Addr) base = program_base(ph, at_phnum);
	const ElfW(Dyn) *dyn = dynamic_of(base, ph, at_phnum);
	for (; dyn != NULL && dyn->d_tag != DT_NULL; dyn++)
		if (dyn->d_tag == DT_DEBUG && dyn->d_un.d_ptr != 0)
			return (const struct r_debug *)dyn->d_un.d_ptr;
	if (zr_auxval(AT_BASE, &at_base) && at_base != 0) {
		const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)at_base;
		return exported_list(at_base, (const ElfW(Phdr) *)(at_base + eh->e_phoff), eh->e_phnum);
	}
	return exported_list(base, ph, at_phnum); /* the program is the loader */
}

/* ---- searching with the loader's lock: objects loaded since ---- */

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
static iterate_fn dl_iterate; /* libc's dl_iterate_phdr, found in the recorded tables */

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
	const ElfW(Dyn) *dyn = dynamic_of(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
	bool is_self = dyn == _DYNAMIC;
	if (is_self)
		s->self_seen = true;
	struct object o;
	if (is_self || (s->after_self && !s->self_seen) || dyn == NULL ||
	    !open_dynamic(info->dlpi_addr, dyn, &o))
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

static void *find_recorded(const char *name, bool after_self);

static bool all_filled(const struct zr_want *wants, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (__atomic_load_n(wants[i].slot, __ATOMIC_RELAXED) == NULL)
			return false;
	return true;
}

/* Fills the empty slots of wants as dlsym would; true when every one is filled. Takes the
 * loader's lock only if one is empty. */
static bool search(const struct zr_want *wants, size_t count, bool after_self)
{
	if (all_filled(wants, count))
		return true;
	iterate_fn iterate = __atomic_load_n(&dl_iterate, __ATOMIC_RELAXED);
	if (iterate == NULL) {
		iterate = (iterate_fn)find_recorded("dl_iterate_phdr", false);
		__atomic_store_n(&dl_iterate, iterate, __ATOMIC_RELAXED);
	}
	if (iterate != NULL) {
		struct search s = { wants, count, after_self, false };
		iterate(search_object, &s);
	}
	return all_filled(wants, count);
}

/* ---- the objects loaded with the program, recorded once ---- */

/* Each object as the loader's list gives it, its tables read from its dynamic section at each
 * lookup (a few dozen entries): 16 bytes an object rather than a struct object's 48 keep the
 * writable data, .bss included, within one page, which the build tests. Room for the objects
 * most programs load; a program that loads more gets a table mapped for them all when they
 * are recorded. */
struct recorded {
	ElfW(Addr) base;
	const ElfW(Dyn) *dyn;
};
#define SMALL_TABLE 32
static struct recorded small_table[SMALL_TABLE];
static struct recorded *objects = small_table;
static int object_count;
static int first_after_self; /* objects[first_after_self..] followed ours in load order */
enum { UNRECORDED, RECORDING, RECORDED };
static int objects_state; /* atomic */

static void record_list(const struct link_map *head, int room)
{
	for (const struct link_map *l = head; l != NULL && object_count < room; l = l->l_next) {
		if (l->l_ld == _DYNAMIC)
			first_after_self = object_count;
		else if (l->l_ld != NULL)
			objects[object_count++] = (struct recorded){ l->l_addr, l->l_ld };
	}
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
	const struct r_debug *list = loader_list();
	if (list != NULL) {
		int count = 0;
		for (const struct link_map *l = list->r_map; l != NULL; l = l->l_next)
			count++;
		if (count > SMALL_TABLE) {
			/* Rare: map room for them all. */
			struct recorded *table = zr_map((size_t)count * sizeof *table, true);
			if (table != NULL)
				objects = table;
			else
				count = SMALL_TABLE;
		}
		record_list(list->r_map, count > SMALL_TABLE ? count : SMALL_TABLE);
	}
	__atomic_store_n(&objects_state, RECORDED, __ATOMIC_RELEASE);
	return true;
}

static void *find_in_recorded(int i, const char *name)
{
	struct object o;
	return open_dynamic(objects[i].base, objects[i].dyn, &o) ? find_in(&o, name) : NULL;
}

/* Searches the recorded objects: after ours, then (musl) those before it; or, when !after_self,
 * all of them in load order. */
static void *find_recorded(const char *name, bool after_self)
{
	void *addr = NULL;
	if (record_objects()) {
		int from = after_self ? first_after_self : 0;
		for (int i = from; addr == NULL && i < object_count; i++)
			addr = find_in_recorded(i, name);
		for (int i = 0; addr == NULL && i < from; i++)
			addr = find_in_recorded(i, name);
	}
	return addr;
}

void zr_real_record(void)
{
	record_objects();
}

void *zr_real_resolve(void **slot, const char *name)
{
	void *addr = find_recorded(name, true);
	if (addr == NULL) {
		/* The table is being recorded by another call, or the function is in an object
		 * loaded since (glibc's forkpty in a libutil a plugin loads), or nowhere: search
		 * every object as dlsym would, taking the loader's lock. */
		struct zr_want want = { name, &addr };
		if (!search(&want, 1, true))
			search(&want, 1, false);
	}
	if (addr != NULL)
		__atomic_store_n(slot, addr, __ATOMIC_RELAXED);
	return addr;
}

/* The names of zr_real's slots, in their order, one after another. */
#define ZR_REAL_NAME(ret, name, params) #name "\0"
static const char real_names[] = ZR_REAL_FUNCTIONS(ZR_REAL_NAME);
#undef ZR_REAL_NAME
#define ZR_REAL_ONE(ret, name, params) +1
_Static_assert(sizeof zr_real == (0 ZR_REAL_FUNCTIONS(ZR_REAL_ONE)) * sizeof(void *),
	       "zr_real is its slots, one pointer each, in the order of real_names");
#undef ZR_REAL_ONE

/* An inert process looks up only what it calls, at the first call. The active one looks up all
 * of them: its fork children inherit the slots filled, where each child would otherwise look
 * up what it calls anew (its writes never reach us), the exec functions at every spawn: a PID 1
 * forking /bin/true paid 3 more page faults a child, on the symbol tables of libc. */
void zr_real_resolve_all(void)
{
	void **slot = (void **)&zr_real;
	for (const char *name = real_names; *name != '\0'; name += strlen(name) + 1)
		zr_real_fn(slot++, name);
}

int *zr_errno_location(void)
{
	static void *slot;
	static int lost; /* only if no libc could be found, where nothing else works either */
	int *(*location)(void) = (int *(*)(void))zr_real_fn(&slot, "__errno_location");
	return location != NULL ? location() : &lost;
}

static void find_wanted(const struct zr_want *wants, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (__atomic_load_n(wants[i].slot, __ATOMIC_RELAXED) == NULL) {
			void *addr = find_recorded(wants[i].name, false);
			if (addr != NULL)
				__atomic_store_n(wants[i].slot, addr, __ATOMIC_RELAXED);
		}
}

bool zr_find_all(const struct zr_want *wants, size_t count)
{
	find_wanted(wants, count);
	return search(wants, count, false);
}

char **zr_environ(void)
{
	static void *slot;
	const struct zr_want want = { "__environ", &slot };
	zr_find_all(&want, 1);
	char ***environ_at = __atomic_load_n(&slot, __ATOMIC_RELAXED);
	return environ_at != NULL ? *environ_at : NULL;
}

void zr_cancel_ready(void)
{
	const struct zr_want wants[] = {
		{ "pthread_setcancelstate", (void **)&zr_thread.pthread_setcancelstate },
		{ "pthread_testcancel", (void **)&zr_thread.pthread_testcancel },
	};
	zr_find_all(wants, 2);
}

bool zr_libc_matches(void)
{
	/* libc is loaded with the program: the recorded objects have it, and a musl program,
	 * which lacks the name, is not made to search every object again (unless another call is
	 * still recording them). */
	void *marker = __atomic_load_n(&glibc_marker, __ATOMIC_RELAXED);
	if (marker == NULL && (marker = find_recorded("gnu_get_libc_version", true)) == NULL &&
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
	 * where it calls __register_atfork. */
	struct {
		int (*pthread_atfork)(void (*)(void), void (*)(void), void (*)(void));
		int (*register_atfork)(void (*)(void), void (*)(void), void (*)(void), void *);
	} f = { NULL, NULL };
	const struct zr_want wants[] = {
		{ "pthread_atfork", (void **)&f.pthread_atfork },
		{ "__register_atfork", (void **)&f.register_atfork },
	};
	zr_find_all(wants, 2);
	if (f.register_atfork != NULL)
		return f.register_atfork(NULL, NULL, child, (void *)&zr_dso_handle) == 0;
	return f.pthread_atfork != NULL && f.pthread_atfork(NULL, NULL, child) == 0;
}
