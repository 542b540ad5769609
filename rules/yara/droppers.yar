/*
 * droppers.yar — shell droppers of the Kinsing and TeamTNT style: scripts
 * that kill rival miners, disable security tools, download and start a
 * payload, and install themselves in cron.
 */

rule Yamori_Dropper_Kinsing_TeamTNT_Like
{
    meta:
        description = "Shell dropper that kills competing miners, weakens security settings and fetches a payload"
        severity = "high"
        reference = "behaviour: cloud-worm dropper scripts: rival cleanup, defence impairment, download and persistence (ATT&CK T1562.001, T1105, T1053.003)"
    strings:
        $sh = "#!" ascii
        $kill1 = /pkill\s+-9?\s*-?f?\s*(kdevtmpfsi|kinsing|xmrig|kthreaddi|\.?xmr)/ ascii nocase
        $kill2 = /ps\s+aux\s*\|\s*grep\s+-v\s+grep\s*\|\s*grep\s+['"]?[a-z0-9._-]+['"]?\s*\|\s*awk\s+['"]\{print \$2\}['"]\s*\|\s*xargs\s+-I\s*%\s+kill\s+-9/ ascii
        $sec1 = "setenforce 0" ascii
        $sec2 = "/etc/selinux/config" ascii
        $sec3 = /ufw\s+disable/ ascii
        $sec4 = /(systemctl\s+(stop|disable)|service)\s+(apparmor|aliyun|aegis|cloudmonitor|bcm-agent)/ ascii
        $sec5 = "echo 0 >/proc/sys/kernel/nmi_watchdog" ascii
        $sec6 = /chattr\s+-i\s+\/etc\/(ld\.so\.preload|crontab|cron\.d)/ ascii
        $dl1 = /(curl|wget)\s+[^|;]*https?:\/\/[0-9]{1,3}(\.[0-9]{1,3}){3}[^\s|;]*\s*[|;]\s*(ba)?sh/ ascii
        $dl2 = /(curl|wget|cur|wge|d\(\))\s+[^|\n]*-[oO]\s*\/(tmp|var\/tmp|dev\/shm)\// ascii
        $cron = /crontab\s+-l\s*[^|]*\|\s*\{[^}]*(curl|wget)/ ascii
        $cron2 = /(curl|wget)[^\n]*\|\s*(ba)?sh[^\n]*>\s*\/etc\/cron\.d\// ascii
    condition:
        filesize < 2MB and $sh and
        ((1 of ($kill*) and (1 of ($sec*) or 1 of ($dl*))) or (2 of ($sec*) and 1 of ($dl*, $cron*)))
}
