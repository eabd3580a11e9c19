// children.js [ROUNDS]: Node.js as PID 1 collecting its own children through every
// child_process API, while orphans are being leaked into PID 1 the whole time.
//
//  - Own children: each of spawn, exec, execFile, spawnSync and fork runs a set of cases,
//    exit codes 0, 1, 3, 77, 255 and two signal deaths (the child kills itself with SIGKILL,
//    SIGTERM), ROUNDS times (spawn, exec and execFile several times as often); plus 40 children
//    of the seed's leaking kind, `sh -c '(sleep 0.05 &); exit 0'`. They are started one per
//    timer tick, so that they overlap the leak and each other; spawnSync blocks the loop
//    in between. For every child, every report is checked against the expected (code,
//    signal): the 'exit' and 'close' events, exec's and execFile's callback error (err.code,
//    err.signal; no error for 0), spawnSync's status and signal.
//  - The leak: 3 leakers, `sh` loops that each leak an orphan per iteration (a subshell that
//    backgrounds `sleep 0.05` and exits), at least 100 each and on until every other own child
//    is done; each says on stdout how many it made. Their orphans become children of PID 1,
//    which libuv never waits for (it waits for its own pids only).
//  - Then it waits until no orphan is alive, and, with the shim (LD_PRELOAD names libzreap),
//    also until no zombie is left (at most 5 s), and counts the zombie children of PID 1
//    (/proc/1/task/*/children, state Z; the shim's zreap-sentinel aside).
// Prints a line per wrong report, then
//   own=N wrong=W dup=D missing=M orphans=O leakers=L live=A zombies=Z (A: orphans still alive)
//   statuses: method#i:code/signal ... (the own children in start order; a child whose
//             reports disagree shows each, joined by +)
// `children.js child CODE|SIGNAME` is what fork runs: it exits with CODE or kills itself.
'use strict';
const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

if (process.argv[2] === 'child') {
	const what = process.argv[3];
	if (what.startsWith('SIG')) process.kill(process.pid, what);
	else process.exit(Number(what));
	// a signal death arrives as soon as the kill returns; nothing else keeps us alive
	setInterval(() => {}, 1000);
	return;
}

const ROUNDS = Number(process.argv[2] || 1);
const CASES = [0, 1, 3, 77, 255].map(c => ({ code: c, signal: null, sh: `exit ${c}` }))
	.concat(['SIGKILL', 'SIGTERM'].map(s => ({ code: null, signal: s, sh: `kill -${s.slice(3)} $$` })));
const SHIM = /libzreap/.test(process.env.LD_PRELOAD || '');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zreap-node-'));
const STOP = path.join(dir, 'stop');

const kids = [];      // { label, code, signal, want: Set of report names, got: {name: [v, ...]} }
let wrong = 0;
let stopping = false, finished = false;

function track(label, c, want) {
	const k = { label, code: c.code, signal: c.signal, want: new Set(want), got: {} };
	kids.push(k);
	return k;
}

function report(k, name, code, signal) {
	(k.got[name] = k.got[name] || []).push(`${code}/${signal}`);
	if (code !== k.code || signal !== k.signal) {
		wrong++;
		console.log(`wrong: ${k.label} ${name}: expected ${k.code}/${k.signal}, got ${code}/${signal}`);
	}
	check();
}

function done(k) {
	for (const n of k.want) if (!k.got[n]) return false;
	return true;
}

function watch(k, child) {
	child.on('exit', (code, signal) => report(k, 'exit', code, signal));
	child.on('close', (code, signal) => report(k, 'close', code, signal));
}

function callback(k) {
	return err => {
		if (err) report(k, 'callback', typeof err.code === 'number' ? err.code : null, err.signal);
		else report(k, 'callback', 0, null);
	};
}

// ---- the leak ----
const LEAKERS = 3;
const leakers = [];
const LEAK = `i=0; while [ $i -lt 100 ] || [ ! -e "${STOP}" ]; do
	(sleep 0.05 </dev/null >/dev/null 2>&1 &); i=$((i + 1)); done; echo $i`;
for (let n = 0; n < LEAKERS; n++) {
	const k = track(`leaker#${n}`, { code: 0, signal: null }, ['exit', 'close']);
	const child = cp.spawn('/bin/sh', ['-c', LEAK], { stdio: ['ignore', 'pipe', 'inherit'] });
	k.out = '';
	child.stdout.on('data', d => { k.out += d; });
	watch(k, child);
	leakers.push(k);
}

// ---- the own children, one start per timer tick ----
const SEEDS = 40;
const plan = [];
for (let r = 0; r < ROUNDS; r++) {
	for (const c of CASES) {
		for (let j = 0; j < 3; j++) plan.push(['spawn', c]);
		for (let j = 0; j < 2; j++) plan.push(['exec', c], ['execFile', c]);
		plan.push(['spawnSync', c], ['fork', c]);
	}
}
for (let n = 0; n < SEEDS; n++)
	plan.splice(Math.floor(n * plan.length / SEEDS), 0, ['seed', { code: 0, signal: null }]);
const count = {};

function start(method, c) {
	const label = `${method}#${count[method] = (count[method] || 0) + 1}`;
	let k;
	switch (method) {
	case 'spawn':
		k = track(label, c, ['exit', 'close']);
		watch(k, cp.spawn('/bin/sh', ['-c', c.sh], { stdio: 'ignore' }));
		break;
	case 'seed':
		k = track(label, c, ['exit', 'close']);
		watch(k, cp.spawn('/bin/sh', ['-c', '(sleep 0.05 &); exit 0'], { stdio: 'ignore' }));
		break;
	case 'exec':
		k = track(label, c, ['exit', 'close', 'callback']);
		watch(k, cp.exec(c.sh, callback(k)));
		break;
	case 'execFile':
		k = track(label, c, ['exit', 'close', 'callback']);
		watch(k, cp.execFile('/bin/sh', ['-c', c.sh], callback(k)));
		break;
	case 'spawnSync': {
		k = track(label, c, ['result']);
		const r = cp.spawnSync('/bin/sh', ['-c', c.sh], { stdio: 'ignore' });
		if (r.error) console.log(`error: ${label}: ${r.error}`);
		report(k, 'result', r.status, r.signal);
		break;
	}
	case 'fork':
		k = track(label, c, ['exit', 'close']);
		watch(k, cp.fork(__filename, ['child', c.signal || String(c.code)], { stdio: 'ignore' }));
		break;
	}
}

let next = 0;
(function tick() {
	if (next < plan.length) {
		start(...plan[next++]);
		setTimeout(tick, 1);
	}
	check();
})();

// ---- the end ----
function check() {
	if (finished || next < plan.length) return;
	const others = kids.filter(k => !leakers.includes(k));
	if (!stopping && others.every(done)) {
		stopping = true;
		fs.writeFileSync(STOP, '');
	}
	if (stopping && leakers.every(done)) {
		finished = true;
		setImmediate(settle);
	}
}
const deadline = setTimeout(() => { finished = true; settle(); }, 20000);

// children of PID 1 by state: { live, zombies } (the shim's sentinel aside)
function census() {
	let live = 0, zombies = 0;
	let tasks = [];
	try { tasks = fs.readdirSync('/proc/1/task'); } catch (e) { }
	for (const t of tasks) {
		let pids = [];
		try { pids = fs.readFileSync(`/proc/1/task/${t}/children`, 'utf8').split(' ').filter(Boolean); } catch (e) { }
		for (const p of pids) {
			let stat;
			try { stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8'); } catch (e) { continue; }
			const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
			const state = stat[stat.lastIndexOf(')') + 2];
			if (state === 'Z') zombies++;
			else if (comm !== 'zreap-sentinel') live++;
		}
	}
	return { live, zombies };
}

function settle() {
	clearTimeout(deadline);
	const until = Date.now() + 5000;
	(function poll() {
		const c = census();
		if ((c.live || (SHIM && c.zombies)) && Date.now() < until) return setTimeout(poll, 10);
		summary(c);
	})();
}

function summary(c) {
	let dup = 0, missing = 0;
	for (const k of kids) {
		for (const n of k.want) {
			const g = k.got[n] || [];
			if (g.length === 0) {
				missing++;
				console.log(`missing: ${k.label} ${n}`);
			} else if (g.length > 1) {
				dup++;
				console.log(`dup: ${k.label} ${n}: ${g.join(' ')}`);
			}
		}
	}
	const orphans = SEEDS + leakers.reduce((s, k) => s + (parseInt(k.out, 10) || 0), 0);
	console.log(`own=${kids.length} wrong=${wrong} dup=${dup} missing=${missing} ` +
		`orphans=${orphans} leakers=${leakers.length} live=${c.live} zombies=${c.zombies}`);
	console.log('statuses: ' + kids.map(k => {
		const seen = new Set([].concat(...Object.values(k.got)));
		return `${k.label}:${[...seen].join('+') || '-'}`;
	}).join(' '));
	fs.rmSync(dir, { recursive: true, force: true });
	process.exit(0);
}
