/*
 * clone_x86_64.S: zr_clone, the shim's own clone(2) onto a new stack, on x86_64.
 *
 * long zr_clone(unsigned long flags, void *stack_top, int *tid, int (*fn)(void *), void *arg)
 *
 * The reaper thread and the sentinel are made with it rather than with libc's clone: glibc
 * before 2.25 has its clone's child write the cached pid and tid into the thread-local storage
 * the child runs on, which for these children is another thread's (reaper.c), and libc's clone
 * sets errno on failure. This one touches no memory but the new stack: fn and arg are put there
 * before the call, and the child takes them from there, calls fn(arg), and exits with its
 * return value. tid is passed as both parent_tid and child_tid, for the flags that use them.
 */
	.text
	.globl	zr_clone
	.hidden	zr_clone
	.type	zr_clone, @function
zr_clone:
	.cfi_startproc
	andq	$-16, %rsi
	subq	$16, %rsi
	movq	%rcx, 8(%rsi)		/* fn */
	movq	%r8, 0(%rsi)		/* arg */
	movq	%rdx, %r10		/* child_tid */
	xorl	%r8d, %r8d		/* tls: none, the child keeps ours */
	movl	$56, %eax		/* SYS_clone(flags, stack, parent_tid, child_tid, tls) */
	syscall
	testq	%rax, %rax
	jnz	1f			/* the parent: the tid, or -errno */
	.cfi_undefined %rip		/* the child: no caller to return to */
	xorl	%ebp, %ebp
	popq	%rdi			/* arg */
	popq	%rax			/* fn; %rsp is 16-byte aligned again */
	call	*%rax
	movl	%eax, %edi
	movl	$60, %eax		/* SYS_exit: this thread only */
	syscall
	hlt
1:	ret
	.cfi_endproc
	.size	zr_clone, .-zr_clone

	.section .note.GNU-stack,"",@progbits
