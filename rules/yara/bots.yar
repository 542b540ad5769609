/*
 * bots.yar — IoT/Linux DDoS bots of the Mirai and Gafgyt (Bashlite)
 * families: their attack-method names, scanner credentials and the
 * strings their bot loaders use to find and kill rivals.
 */

rule Yamori_Bot_Mirai_Like
{
    meta:
        description = "Mirai-style bot: flood method names, the busybox self-check and telnet credential scanning"
        severity = "high"
        reference = "behaviour: a botnet client that scans for telnet logins and floods targets (ATT&CK T1498, T1110)"
    strings:
        $busybox = "/bin/busybox" ascii
        $check = "MIRAI" ascii
        $a1 = "attack_udp_generic" ascii
        $a2 = "attack_tcp_syn" ascii
        $a3 = "attack_app_http" ascii
        $a4 = "attack_gre_eth" ascii
        $k1 = "/dev/watchdog" ascii
        $k2 = "/dev/misc/watchdog" ascii
        $c1 = "xc3511" ascii
        $c2 = "vizxv" ascii
        $c3 = "7ujMko0admin" ascii
        $c4 = "Zte521" ascii
    condition:
        uint32(0) == 0x464c457f and filesize < 8MB and
        (2 of ($a*) or ($busybox and ($check or 2 of ($c*))) or (1 of ($k*) and 2 of ($c*)))
}

rule Yamori_Bot_Gafgyt_Like
{
    meta:
        description = "Gafgyt/Bashlite-style bot: its IRC-like command words and flood names"
        severity = "high"
        reference = "behaviour: a botnet client taking flood commands from its controller (ATT&CK T1498)"
    strings:
        $cmd1 = "PING" ascii fullword
        $cmd2 = "GETLOCALIP" ascii
        $cmd3 = "SCANNER ON" ascii
        $cmd4 = "SCANNER OFF" ascii
        $f1 = "HTTPFLOOD" ascii
        $f2 = "UDPRAW" ascii
        $f3 = "STDHEX" ascii
        $f4 = "JUNK" ascii fullword
        $f5 = "HOLD" ascii fullword
        $f6 = "KILLATTK" ascii
        $f7 = "LOLNOGTFO" ascii
    condition:
        uint32(0) == 0x464c457f and filesize < 8MB and
        ((($cmd2 or $cmd3 or $cmd4) and 2 of ($f*)) or (4 of ($f*) and $cmd1))
}
