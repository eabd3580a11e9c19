// Reap.java OWN LEAKERS PER: the JVM as PID 1 starting OWN children through ProcessBuilder and
// collecting each status through a different API (waitFor(), waitFor(timeout) then exitValue(),
// onExit().get(), isAlive() polling then exitValue(), and batches of 8 waited in reverse),
// while a second thread keeps leaking orphans: children `sh -c` (at least LEAKERS, and until
// the own children are done) that each leave PER `(sleep 0.05 &)` behind, whose sleeps the
// kernel hands to PID 1. The launch mechanism is the JVM's
// (-Djdk.lang.Process.launchMechanism=POSIX_SPAWN|VFORK|FORK; mech= shows the one in force
// when run with --add-opens java.base/java.lang=ALL-UNNAMED).
// Children: exit codes 0, 1, 3, 77, 255 (sh -c 'exit N', /bin/true, /bin/false), shells that
// kill themselves (TERM, KILL, USR1, HUP: Java reports 128 + the signal) and a `sleep` ended by
// destroy() (143) or destroyForcibly() (137).
// When the leak is over and its sleeps have exited, counts the zombie children of PID 1 (from
// /proc, forking nothing), until there are none or their number has stayed the same for 0.5 s.
// Prints one line per wrong status, then
//   mech=M own=N wrong=N missing=N leakers=N leaker_bad=N orphans=N zombies=N busy=N
//   statuses: every own child's status, in order (the same from run to run)
// (busy: sleep or sh processes still alive at the count, 0 unless the 10 s deadline passed)
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

public class Reap {
    static int own, wrong, missing;
    static final StringBuilder statuses = new StringBuilder();

    static Process start(String... cmd) throws IOException {
        return new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    // one child: its command and the status Java must report for it
    static final class Kid {
        final String[] cmd; final int expect; final int kill; // kill: 0, 1 destroy, 2 forcibly
        Kid(int expect, int kill, String... cmd) { this.cmd = cmd; this.expect = expect; this.kill = kill; }
    }

    static Kid kid(int i) {
        int[] codes = {0, 1, 3, 77, 255};
        String[][] sigs = {{"TERM", "143"}, {"KILL", "137"}, {"USR1", "138"}, {"HUP", "129"}};
        switch (i % 10) {
            case 0: case 1: case 2: case 3: case 4: {
                int c = codes[(i / 10 + i) % 5];
                return new Kid(c, 0, "sh", "-c", "exit " + c);
            }
            case 5: return new Kid(0, 0, "/bin/true");
            case 6: return new Kid(1, 0, "/bin/false");
            case 7: case 8: {
                String[] s = sigs[(i / 10 + i) % 4];
                return new Kid(Integer.parseInt(s[1]), 0, "sh", "-c", "kill -" + s[0] + " $$; sleep 5");
            }
            default:
                return (i / 10) % 2 == 0 ? new Kid(143, 1, "sleep", "1000") : new Kid(137, 2, "sleep", "1000");
        }
    }

    static void check(int expect, int got, String what) {
        own++;
        statuses.append(' ').append(got);
        if (got != expect) {
            wrong++;
            System.out.println("wrong: " + what + ": expected " + expect + ", got " + got);
        }
    }

    static void miss(String what) {
        own++; missing++;
        statuses.append(" missing");
        System.out.println("missing: " + what);
    }

    // collect p's status with API number api (0..3)
    static void collect(Process p, Kid k, int api) throws Exception {
        String what = String.join(" ", k.cmd) + " (api " + api + ")";
        if (k.kill == 1) p.destroy();
        if (k.kill == 2) p.destroyForcibly();
        switch (api) {
            case 0: check(k.expect, p.waitFor(), what); break;
            case 1:
                if (p.waitFor(10, TimeUnit.SECONDS)) check(k.expect, p.exitValue(), what);
                else miss(what);
                break;
            case 2:
                try {
                    check(k.expect, p.onExit().get(10, TimeUnit.SECONDS).exitValue(), what);
                } catch (java.util.concurrent.TimeoutException e) { miss(what); }
                break;
            default: {
                long end = System.nanoTime() + 10_000_000_000L;
                while (p.isAlive() && System.nanoTime() < end) Thread.sleep(1);
                if (p.isAlive()) { miss(what); break; }
                check(k.expect, p.exitValue(), what);
            }
        }
    }

    // processes in /proc: {zombie children of PID 1, live sleep/sh processes other than us}
    static int[] census() {
        int zombies = 0, busy = 0;
        String[] names = new java.io.File("/proc").list();
        for (String n : names) {
            if (n.isEmpty() || !Character.isDigit(n.charAt(0)) || n.equals("1")) continue;
            String stat;
            try { stat = Files.readString(Path.of("/proc", n, "stat")); } catch (IOException e) { continue; }
            int r = stat.lastIndexOf(')');
            String comm = stat.substring(stat.indexOf('(') + 1, r);
            String[] f = stat.substring(r + 2).split(" ");
            if (f[0].equals("Z")) { if (f[1].equals("1")) zombies++; }
            else if (comm.equals("sleep") || comm.equals("sh")) busy++;
        }
        return new int[] {zombies, busy};
    }

    public static void main(String[] a) throws Exception {
        int n = Integer.parseInt(a[0]), leakers = Integer.parseInt(a[1]), per = Integer.parseInt(a[2]);
        String mech = "?";
        try { // what the JVM really uses (needs --add-opens java.base/java.lang=ALL-UNNAMED)
            var f = Class.forName("java.lang.ProcessImpl").getDeclaredField("launchMechanism");
            f.setAccessible(true);
            mech = String.valueOf(f.get(null));
        } catch (Exception e) { mech = "unknown"; }

        int[] leakerBad = {0}, made = {0};
        var done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread leak = new Thread(() -> { // at least LEAKERS, and until the own children are done
            String line = "i=0; while [ $i -lt " + per + " ]; do (sleep 0.05 &); i=$((i+1)); done";
            try {
                while (made[0] < leakers || !done.get()) {
                    if (start("sh", "-c", line).waitFor() != 0) leakerBad[0]++;
                    made[0]++;
                }
            } catch (Exception e) { leakerBad[0] += 1000; e.printStackTrace(); }
        });
        leak.start();

        int i = 0;
        while (i < n) {
            if (i % 40 == 39) { // a batch: 8 at once, waited for in reverse
                List<Process> ps = new ArrayList<>();
                List<Kid> ks = new ArrayList<>();
                for (int j = 0; j < 8; j++) { Kid k = kid(i + j); ks.add(k); ps.add(start(k.cmd)); }
                for (int j = 7; j >= 0; j--) collect(ps.get(j), ks.get(j), j % 4);
                i += 8;
            } else {
                Kid k = kid(i);
                collect(start(k.cmd), k, i % 4);
                i++;
            }
        }
        done.set(true);
        leak.join();

        // the leak's sleeps end 50 ms after they start: wait until none is left alive
        long end = System.nanoTime() + 10_000_000_000L;
        int[] c = census();
        while (c[1] > 0 && System.nanoTime() < end) { Thread.sleep(5); c = census(); }
        // then until no zombie is left, or their number has stayed the same for 0.5 s
        long since = System.nanoTime();
        while (c[0] > 0 && System.nanoTime() - since < 500_000_000L) {
            Thread.sleep(10);
            int last = c[0];
            c = census();
            if (c[0] != last) since = System.nanoTime();
        }
        System.out.println("mech=" + mech + " own=" + own + " wrong=" + wrong + " missing=" + missing
                + " leakers=" + made[0] + " leaker_bad=" + leakerBad[0] + " orphans=" + (made[0] * per)
                + " zombies=" + c[0] + " busy=" + c[1]);
        System.out.println("statuses:" + statuses);
    }
}
