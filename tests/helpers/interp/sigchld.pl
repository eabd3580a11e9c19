#!/usr/bin/perl
# sigchld.pl N M: a Perl PID 1 with the classic reaping handler,
#   $SIG{CHLD} = sub { while ((my $p = waitpid(-1, WNOHANG)) > 0) { ... } }
# while a separate child of its own leaks orphans continuously (double fork; the grandchild,
# adopted by PID 1, exits a few ms later). Perl runs %SIG handlers "safely", between ops.
#  1. N children forked with distinct statuses: child i exits with i % 200, every 7th is killed
#     by a signal instead (by itself, or by the app with SIGKILL while it sleeps). The handler
#     records each (pid, status) it collects; all N must be there, each once, exact.
#  2. M commands through system() and M through backticks, command i exiting with
#     (i * 7 + 1) % 256 and printing i: $? >> 8 (and the output) must be exact. system()
#     blocks SIGCHLD while it waits, so the handler cannot take its child; backticks does not,
#     and there the handler sometimes takes the command's child first (Perl's race, also
#     without the shim): then $? is -1 and the status must be the one the handler recorded
#     during that command (counted as bt_by_handler; a status nobody got is wrong).
#  3. The leaker is stopped; SIGCHLD goes back to DEFAULT; one last own child leaks FINAL
#     orphans that exit at once and that nobody in the app waits for; then, without forking,
#     it waits until no zombie is left, or their number has stayed the same for 0.5 s.
# Prints one line per wrong status, then
#   own=N wrong=W dup=D missing=M sys=S sys_wrong=SW bt=B bt_wrong=BW bt_by_handler=BH leaker=L
#   handler_calls=H orphans=O orphans_by_app=A final_orphans=F zombies=Z
#   statuses: i:status ... (own statuses by index, for a diff between runs)
use strict;
use warnings;
use POSIX qw(:sys_wait_h _exit);
# Only what perl-base has (no Time::HiRes): short sleeps through select, deadlines in ticks.
sub nap { select(undef, undef, undef, $_[0]); }

$| = 1;
my $N = $ARGV[0] // 200;
my $M = $ARGV[1] // 100;
my $FINAL = 50;
my $MIN_ORPHANS = 300;
my @KILLS = qw(KILL TERM USR1 USR2 HUP ALRM);   # no core dumps, no PIPE/INT/QUIT

my %collected;   # pid -> [status, ...]
my $calls = 0;
my $bt_now;      # the index of the backticks command running, if any
my %during;      # index -> [[pid, status], ...] collected by the handler while it ran
$SIG{CHLD} = sub {
	local ($!, $?);   # waitpid sets $?: the interrupted code must not see it change
	$calls++;
	while ((my $p = waitpid(-1, WNOHANG)) > 0) {
		push @{ $collected{$p} }, $?;
		push @{ $during{$bt_now} }, [$p, $?] if defined $bt_now;
	}
};

sub zombies {
	my $n = 0;
	opendir(my $d, "/proc") or return -1;
	for my $e (readdir $d) {
		next unless $e =~ /^\d+$/;
		open(my $f, "<", "/proc/$e/stat") or next;
		my $s = <$f> // next;
		$n++ if $s =~ /\) Z /;
	}
	return $n;
}

# leaker($count, $linger): an own child that double-forks orphans; with $count, exactly that
# many; else until its stdin-like pipe is closed and at least MIN_ORPHANS are made. Returns
# (pid, stop writer, report reader).
sub spawn_leaker {
	my ($count, $linger) = @_;
	pipe(my $stop_r, my $stop_w) or die;
	pipe(my $rep_r, my $rep_w) or die;
	my $pid = fork() // die;
	if ($pid == 0) {
		$SIG{CHLD} = 'DEFAULT';
		close $stop_w; close $rep_r;
		my $made = 0;
		while (1) {
			if (defined $count) {
				last if $made >= $count;
			} elsif ($made >= $MIN_ORPHANS) {
				my $rin = '';
				vec($rin, fileno($stop_r), 1) = 1;
				last if select(my $rout = $rin, undef, undef, 0) > 0;
			}
			my $mid = fork() // die;
			if ($mid == 0) {
				if (fork() == 0) { nap($linger) if $linger; _exit(3); }
				_exit(0);
			}
			waitpid($mid, 0);
			$made++;
		}
		syswrite($rep_w, "$made\n");
		_exit(77);
	}
	close $stop_r; close $rep_w;
	return ($pid, $stop_w, $rep_r);
}

sub read_all { my $fh = shift; local $/; my $s = <$fh>; return $s // ''; }

my ($lpid, $lstop, $lrep) = spawn_leaker(undef, 0.005);

# 1. own children with distinct statuses
my (%own, %expected);
for my $i (0 .. $N - 1) {
	my $pid;
	if ($i % 7 == 3) {
		my $sig = $KILLS[int($i / 7) % @KILLS];
		$expected{$i} = POSIX->can("SIG$sig")->();
		$pid = fork() // die;
		if ($pid == 0) {
			$SIG{CHLD} = 'DEFAULT';
			if ($sig eq 'KILL') { sleep(1000); _exit(254); }
			$SIG{$sig} = 'DEFAULT';
			nap(($i % 20) / 1000);
			kill $sig, $$;
			_exit(253);
		}
		kill 'KILL', $pid if $sig eq 'KILL';
	} else {
		$expected{$i} = ($i % 200) << 8;
		$pid = fork() // die;
		if ($pid == 0) { nap(($i % 20) / 1000); _exit($i % 200); }
	}
	$own{$pid} = $i;
}
# Each nap is cut short by a SIGCHLD, whose handler runs right after: at most 15 s of naps.
for (my $t = 0; grep({ !exists $collected{$_} } keys %own) && $t < 1500; $t++) {
	nap(0.01);
}

# 2. system() and backticks
my ($sys_wrong, $bt_wrong, %bt_stolen) = (0, 0);
for my $i (0 .. $M - 1) {
	my $code = ($i * 7 + 1) % 256;
	my $r = system("/bin/sh", "-c", "exit $code");
	my $got = $? >> 8;
	if ($r == -1 || $got != $code) {
		$sys_wrong++;
		print "wrong: system exit $code: ret=$r \$?=$?\n";
	}
	$bt_now = $i;
	my $out = `/bin/sh -c 'echo $i; exit $code'`;
	my $st = $?;
	$bt_now = undef;
	if ($st == -1) {
		# Perl's own race: its read of the pipe runs pending %SIG handlers when a signal
		# cuts it short, and the handler's waitpid(-1) can take the command before
		# backticks waits for it (it happens without the shim too). Then the handler must
		# have got exactly that status (no orphan exits with it: they exit 3).
		my @mine = grep { $_->[1] == $code << 8 } @{ $during{$i} // [] };
		if (@mine == 1) {
			$bt_stolen{ $mine[0][0] } = 1;
			$st = $mine[0][1];
		}
	}
	if ($st == -1 || $st >> 8 != $code || $out ne "$i\n") {
		$bt_wrong++;
		chomp $out;
		print "wrong: backticks exit $code: \$?=$st out='$out'\n";
	}
}

# 3. stop the leaker (the handler collects its status), then the final orphans
close $lstop;
my $orphans = read_all($lrep) + 0;
for (my $t = 0; !exists $collected{$lpid} && $t < 500; $t++) { nap(0.01); }
my $leaker_status = exists $collected{$lpid} ? $collected{$lpid}[0] : 'none';

$SIG{CHLD} = 'DEFAULT';
my ($fpid, $fstop, $frep) = spawn_leaker($FINAL, 0);
my $final = read_all($frep) + 0;
close $fstop;
waitpid($fpid, 0);
my $fstatus = $?;

# Until no zombie is left, or their number has stayed the same for 25 naps (0.5 s and more).
my ($z, $last, $same) = (zombies(), -1, 0);
for (my $t = 0; $z > 0 && $same < 25 && $t < 200; $t++) {
	nap(0.02);
	($last, $z) = ($z, zombies());
	$same = $z == $last ? $same + 1 : 0;
}

my ($wrong, $dup, $missing) = (0, 0, 0);
for my $pid (sort { $own{$a} <=> $own{$b} } keys %own) {
	my $i = $own{$pid};
	my $got = $collected{$pid};
	if (!$got) { $missing++; print "missing: child $i (pid $pid)\n"; }
	elsif (@$got != 1) { $dup++; print "dup: child $i (pid $pid): @$got\n"; }
	elsif ($got->[0] != $expected{$i}) {
		$wrong++;
		print "wrong: child $i (pid $pid): expected $expected{$i}, got $got->[0]\n";
	}
}
if ($fstatus != 77 << 8) { $wrong++; print "wrong: final leaker: $fstatus\n"; }
my $by_app = grep { !exists $own{$_} && $_ != $lpid && !$bt_stolen{$_} } keys %collected;
print "own=" . keys(%own) . " wrong=$wrong dup=$dup missing=$missing sys=$M sys_wrong=$sys_wrong "
    . "bt=$M bt_wrong=$bt_wrong bt_by_handler=" . keys(%bt_stolen) . " leaker=$leaker_status handler_calls=$calls orphans=$orphans "
    . "orphans_by_app=$by_app final_orphans=$final zombies=$z\n";
print "statuses: " . join(" ", map { "$own{$_}:" . ($collected{$_} ? $collected{$_}[0] : '-') }
    sort { $own{$a} <=> $own{$b} } keys %own) . "\n";
