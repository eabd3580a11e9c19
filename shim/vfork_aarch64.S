/*
 * vfork_aarch64.S: vfork for the shim on aarch64; see vfork_x86_64.S for why it is assembly.
 *
 * Here the return address lives in x30, which the system call preserves; the frame used to
 * call zr_vfork_enter is popped before the child runs, and the tracked flag rides in w9.
 * aarch64 has no vfork system call: clone(CLONE_VM | CLONE_VFORK | SIGCHLD, 0) is the same.
 */
	.text
	.globl	vfork
	.type	vfork, %function
vfork:
	.cfi_startproc
	stp	x29, x30, [sp, #-16]!
	.cfi_def_cfa_offset 16
	.cfi_offset x29, -16
	.cfi_offset x30, -8
	mov	x29, sp
	bl	zr_vfork_enter
	mov	w9, w0
	ldp	x29, x30, [sp], #16
	.cfi_def_cfa_offset 0
	.cfi_restore x29
	.cfi_restore x30
	mov	x0, #0x4111		/* CLONE_VM | CLONE_VFORK | SIGCHLD */
	mov	x1, #0
	mov	x2, #0
	mov	x3, #0
	mov	x4, #0
	mov	x8, #220		/* SYS_clone */
	svc	#0
	cbz	x0, 1f			/* the child: straight back to the caller */
	stp	x29, x30, [sp, #-16]!
	.cfi_def_cfa_offset 16
	.cfi_offset x29, -16
	.cfi_offset x30, -8
	mov	x29, sp
	mov	w1, w9
	bl	zr_vfork_leave		/* (result, tracked) -> pid or -1 with errno */
	ldp	x29, x30, [sp], #16
	.cfi_def_cfa_offset 0
	.cfi_restore x29
	.cfi_restore x30
1:	ret
	.cfi_endproc
	.size	vfork, .-vfork

	.section .note.GNU-stack,"",%progbits
