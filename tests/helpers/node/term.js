// term.js default|handler: Node.js as PID 1 with children, for a SIGTERM sent from outside the
// namespace (as `docker stop` does).
//   default: no process.on('SIGTERM'). Node itself still installs a handler of its own for
//            SIGTERM (SignalExit, with SA_RESETHAND: it restores the terminal and raises the
//            signal again, to die of it as any process would).
//   handler: process.on('SIGTERM', ...): the handler prints "handler got SIGTERM", asks the
//            reporter whether a TERM reached it (below), prints the answer and exits 7.
// Children, all by spawn: two `sleep 30`, and a reporter (perl) that writes "reporter got
// TERM" on stderr (this process's stderr) when TERM reaches it, and answers every line on its
// stdin with "no TERM so far" on its stdout (a pipe to this process). A TERM sent to the
// reporter before the handler's question is handled before the question is read, so an
// answer means that no TERM had reached it when the handler ran.
// Prints PID 1's SigCgt and the children's pids, then "ready" once the reporter is ready.
'use strict';
const cp = require('child_process');
const fs = require('fs');

const mode = process.argv[2];
if (mode === 'handler') {
	process.on('SIGTERM', () => {
		console.log('handler got SIGTERM');
		ask(answer => {
			console.log(`reporter says: ${answer}`);
			process.exit(7);
		});
	});
}

const sleeps = [0, 1].map(() => cp.spawn('sleep', ['30'], { stdio: 'ignore' }));
const reporter = cp.spawn('perl', ['-e', `$| = 1;
	$SIG{TERM} = sub { print STDERR "reporter got TERM\\n"; exit 0 };
	print "reporter ready\\n";
	while (<STDIN>) { print "no TERM so far\\n" }`], { stdio: ['pipe', 'pipe', 'inherit'] });

reporter.stdin.on('error', () => {}); // EPIPE: the reporter is gone (it got a TERM)
let lines = [], waiting = null, buf = '';
reporter.stdout.setEncoding('utf8');
reporter.stdout.on('data', d => {
	buf += d;
	let i;
	while ((i = buf.indexOf('\n')) >= 0) {
		lines.push(buf.slice(0, i));
		buf = buf.slice(i + 1);
	}
	deliver();
});
reporter.stdout.on('end', () => { lines.push('(gone without an answer)'); deliver(); });
function deliver() {
	while (waiting && lines.length) {
		const w = waiting;
		waiting = null;
		w(lines.shift());
	}
}
function next(cb) {
	waiting = cb;
	deliver();
}
function ask(cb) {
	reporter.stdin.write('?\n', () => {});
	next(cb);
}

next(first => {
	if (first !== 'reporter ready') console.log(`reporter: ${first}`);
	const cgt = fs.readFileSync('/proc/1/status', 'utf8').match(/^SigCgt:\s*(\S+)/m)[1];
	console.log(`pid1 SigCgt=${cgt}`);
	console.log(`children ${sleeps.map(s => s.pid).join(' ')} ${reporter.pid}`);
	console.log('ready');
});
