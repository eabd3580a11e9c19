#!/bin/sh
# leak.sh: a CGI script for `python3 -m http.server --cgi`: answers "hello QUERY_STRING" and
# leaves an orphan behind, a `sleep 0.05` whose parent (a subshell) is gone, for PID 1.
(sleep 0.05 </dev/null >/dev/null 2>&1 &)
printf 'Content-Type: text/plain\r\n\r\nhello %s\n' "$QUERY_STRING"
