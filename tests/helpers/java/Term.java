// Term.java DIR: the JVM as PID 1 for a SIGTERM from outside (docker stop). A shutdown hook
// prints "hook ran sleep=alive|dead reporter=alive|dead marker=yes|no" (our two children when
// it runs, and whether the reporter has seen a TERM by then). Children, both started through
// ProcessBuilder: `sleep 30`, and a reporter shell that traps TERM, appends "reporter got TERM"
// to DIR/marker and exits 0. Prints "ready" once the reporter's trap is set, then the main
// thread blocks for ever (a server's main thread) and "main returned" is never printed.
// The JVM installs its own SIGTERM handler (shutdown hooks, exit 143), unless run with -Xrs.
import java.nio.file.Files;
import java.nio.file.Path;

public class Term {
    public static void main(String[] a) throws Exception {
        Path dir = Path.of(a[0]), marker = dir.resolve("marker"), ready = dir.resolve("ready");
        Process[] kids = new Process[2];
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("hook ran sleep=" + (kids[0].isAlive() ? "alive" : "dead")
                    + " reporter=" + (kids[1].isAlive() ? "alive" : "dead")
                    + " marker=" + (Files.exists(marker) ? "yes" : "no"));
        }));
        kids[0] = new ProcessBuilder("sleep", "30").inheritIO().start();
        // The reporter blocks in a read from its stdin, a pipe from the JVM, so that it has no
        // child of its own (which, orphaned as it exits, would become one more child of PID 1).
        kids[1] = new ProcessBuilder("sh", "-c",
                "trap 'echo reporter got TERM >>\"$1\"; exit 0' TERM; : >\"$2\"; read -r _",
                "sh", marker.toString(), ready.toString())
                .redirectOutput(ProcessBuilder.Redirect.INHERIT)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        long end = System.nanoTime() + 10_000_000_000L;
        while (!Files.exists(ready) && System.nanoTime() < end) Thread.sleep(5);
        System.out.println(Files.exists(ready) ? "ready" : "reporter not ready");
        Object never = new Object();
        synchronized (never) { never.wait(); }
        System.out.println("main returned");
    }
}
