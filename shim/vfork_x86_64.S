/*
 * vfork_x86_64.S: vfork for the shim on x86_64.
 *
 * vfork cannot be a C function: the child returns through our frame and runs on in the
 * parent's stack, so by the time the parent resumes, anything our frame had saved there is
 * gone, the return address included. Like libc's own vfork, this keeps the caller's return
 * address in a register (%rdi, which the syscall preserves and each process has its own copy
 * of) while the child runs, and owns no stack across the call. The shim's bookkeeping is done
 * before (zr_vfork_enter starts a tracked spawn when active; the flag rides in %esi) and, in
 * the parent only, after (zr_vfork_leave records the pid, or sets errno on failure). The
 * child touches nothing: it shares our memory until it execs or exits.
 */
	.text
	.globl	vfork
	.type	vfork, @function
vfork:
	.cfi_startproc
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	call	zr_vfork_enter
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	movl	%eax, %esi
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rdi
	movl	$58, %eax		/* SYS_vfork */
	syscall
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rip, 0
	testq	%rax, %rax
	jz	1f			/* the child: straight back to the caller */
	movq	%rax, %rdi
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	call	zr_vfork_leave		/* (result, tracked) -> pid or -1 with errno */
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
1:	ret
	.cfi_endproc
	.size	vfork, .-vfork

	.section .note.GNU-stack,"",@progbits
