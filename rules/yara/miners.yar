/*
 * miners.yar — cryptocurrency miners (XMRig and its forks, and the
 * configuration files and command lines that start them). A miner on a
 * server is the most common outcome of a compromised Linux host.
 */

rule Yamori_Miner_XMRig_Binary
{
    meta:
        description = "XMRig-family Monero miner: its banner, option names and pool protocol strings"
        severity = "high"
        reference = "behaviour: resource hijacking by a CPU miner speaking the stratum protocol (ATT&CK T1496)"
    strings:
        $name1 = "xmrig" ascii nocase
        $name2 = "XMRig/" ascii
        $opt1 = "--donate-level" ascii
        $opt2 = "randomx" ascii nocase
        $opt3 = "cryptonight" ascii nocase
        $proto1 = "stratum+tcp://" ascii
        $proto2 = "stratum+ssl://" ascii
        $proto3 = "\"method\":\"login\"" ascii
        $proto4 = "mining.subscribe" ascii
    condition:
        filesize < 64MB and
        (($name1 or $name2) and 2 of ($opt*, $proto*))
}

rule Yamori_Miner_Config
{
    meta:
        description = "Miner configuration: a pool URL with a wallet user and the fields XMRig-style config.json files carry"
        severity = "high"
        reference = "behaviour: a miner configured to send work to a pool (ATT&CK T1496)"
    strings:
        $pools = "\"pools\"" ascii
        $url = "\"url\"" ascii
        $user = "\"user\"" ascii
        $algo1 = "\"algo\"" ascii
        $algo2 = "\"coin\"" ascii
        $rx = "\"randomx\"" ascii
        $cpu = "\"max-threads-hint\"" ascii
        $donate = "\"donate-level\"" ascii
        $stratum = "stratum+" ascii
        $port1 = ":3333\"" ascii
        $port2 = ":4444\"" ascii
        $port3 = ":14444\"" ascii
        $port4 = ":5555\"" ascii
    condition:
        filesize < 1MB and $pools and $url and $user and
        2 of ($algo1, $algo2, $rx, $cpu, $donate, $stratum, $port*)
}

rule Yamori_Miner_Command_Line
{
    meta:
        description = "A script that starts a miner against a pool with a wallet address"
        severity = "high"
        reference = "behaviour: a dropper script launching a CPU miner (ATT&CK T1496)"
    strings:
        $pool = /-o\s+(stratum\+(tcp|ssl):\/\/)?[a-z0-9.\-]+:(3333|4444|5555|7777|14444|14433|45700)/ ascii nocase
        $wallet = /-u\s+4[0-9AB][1-9A-HJ-NP-Za-km-z]{90,}/ ascii
        $threads = "--cpu-max-threads-hint" ascii
        $bg = "--background" ascii
    condition:
        filesize < 1MB and $pool and ($wallet or $threads or $bg)
}
