/*
 * reverse_shells.yar — scripts that connect a shell to a remote host:
 * bash /dev/tcp redirections, netcat -e, and the Python/Perl/PHP socket
 * one-liners that hand a socket to /bin/sh.
 */

rule Yamori_ReverseShell_Bash_DevTcp
{
    meta:
        description = "A shell whose input and output are redirected to a /dev/tcp connection"
        severity = "high"
        reference = "behaviour: interactive shell connected back to a remote host (ATT&CK T1059.004)"
    strings:
        $a = /(bash|sh)\s+-i\s*[>&]+\s*\/dev\/(tcp|udp)\/[^\/\s]+\/[0-9]{1,5}/ ascii
        $b = /exec\s+[0-9]+<>\s*\/dev\/tcp\/[^\/\s]+\/[0-9]{1,5}/ ascii
        $c = /\/dev\/tcp\/[^\/\s]+\/[0-9]{1,5}\s+0>&1/ ascii
    condition:
        filesize < 1MB and any of them
}

rule Yamori_ReverseShell_Netcat_Exec
{
    meta:
        description = "netcat or socat handing a shell to a network connection"
        severity = "high"
        reference = "behaviour: shell served over a network connection (ATT&CK T1059.004)"
    strings:
        $nc = /\b(nc|ncat|netcat)(\.traditional|\.openbsd)?\s[^\n|;&]{0,100}\s-(e|c)\s+['"]?\/bin\/(ba|da)?sh/ ascii
        $fifo = /mkfifo\s+\S+;\s*(cat|tail)[^|]*\|\s*\/bin\/(ba)?sh\s+-i[^|]*\|\s*(nc|ncat|netcat)\s/ ascii
        $socat = /socat\s+(tcp|TCP)[^ ]*:[^ ]+\s+exec:['"]?\/bin\/(ba)?sh/ ascii
    condition:
        filesize < 1MB and any of them
}

rule Yamori_ReverseShell_Script_Socket
{
    meta:
        description = "Python, Perl or PHP code that connects a socket and attaches a shell to it"
        severity = "high"
        reference = "behaviour: scripting-language reverse shell (ATT&CK T1059.006)"
    strings:
        $py1 = "socket.socket(" ascii
        $py2 = /os\.dup2\(\s*s\.fileno\(\)\s*,\s*[012]\s*\)/ ascii
        $py3 = /(subprocess\.call|pty\.spawn|os\.system)\(\s*\[?\s*["']\/bin\/(ba)?sh/ ascii
        $pl1 = /socket\s*\(\s*S\s*,\s*PF_INET/ ascii
        $pl2 = /open\s*\(\s*STDIN\s*,\s*["']>&S/ ascii
        $pl3 = /exec\s*\(\s*["']\/bin\/(ba)?sh/ ascii
        $php1 = /fsockopen\s*\([^)]+\)\s*;\s*(exec|shell_exec|system|passthru|proc_open)\s*\(\s*["']\/bin\/(ba)?sh/ ascii
    condition:
        filesize < 1MB and (($py1 and $py2 and $py3) or ($pl1 and $pl2 and $pl3) or $php1)
}
