/*
 * clone_aarch64.S: zr_clone, the shim's own clone(2) onto a new stack, on aarch64.
 *
 * long zr_clone(unsigned long flags, void *stack_top, int *tid, int (*fn)(void *), void *arg)
 *
 * See clone_x86_64.S for why the shim has its own. fn and arg are put on the new stack before
 * the call; the child takes them from there, calls fn(arg), and exits with its return value.
 * tid is passed as both parent_tid and child_tid, for the flags that use them.
 */
	.text
	.globl	zr_clone
	.hidden	zr_clone
	.type	zr_clone, %function
zr_clone:
	.cfi_startproc
	and	x1, x1, #-16
	stp	x3, x4, [x1, #-16]!	/* fn, arg */
	mov	x4, x2			/* child_tid */
	mov	x3, xzr			/* tls: none, the child keeps ours */
	mov	x8, #220		/* SYS_clone(flags, stack, parent_tid, tls, child_tid) */
	svc	#0
	cbnz	x0, 1f			/* the parent: the tid, or -errno */
	.cfi_undefined x30		/* the child: no caller to return to */
	ldp	x3, x0, [sp], #16	/* fn, arg */
	mov	x29, xzr
	mov	x30, xzr
	blr	x3
	mov	x8, #93			/* SYS_exit: this thread only */
	svc	#0
	brk	#0
1:	ret
	.cfi_endproc
	.size	zr_clone, .-zr_clone

	.section .note.GNU-stack,"",@progbits
