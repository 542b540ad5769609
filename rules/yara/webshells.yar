/*
 * webshells.yar — web shells in PHP and JSP: a request parameter handed
 * to a function that runs commands or evaluates code.
 */

rule Yamori_Webshell_PHP_Exec
{
    meta:
        description = "PHP web shell: request input passed to a command-execution or eval function"
        severity = "high"
        reference = "behaviour: server-side script running commands an HTTP request supplies (ATT&CK T1505.003)"
    strings:
        $php = "<?" ascii
        $exec = /(system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|assert|eval)\s*\(\s*(base64_decode\s*\(\s*)?(stripslashes\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER\[.HTTP_)/ ascii nocase
        $bt = /`\s*\$_(GET|POST|REQUEST)\[/ ascii
        $create = /create_function\s*\([^)]*\$_(GET|POST|REQUEST)/ ascii nocase
        $preg = /preg_replace\s*\(\s*['"].{1,30}\/e['"]/ ascii
    condition:
        filesize < 2MB and $php and any of ($exec, $bt, $create, $preg)
}

rule Yamori_Webshell_PHP_Obfuscated_Eval
{
    meta:
        description = "PHP that evaluates a decoded blob (eval of base64/gzinflate/str_rot13), the usual disguise of web shells"
        severity = "medium"
        reference = "behaviour: obfuscated server-side code evaluated at run time (ATT&CK T1505.003, T1027)"
    strings:
        $php = "<?" ascii
        $e = /eval\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode)\s*\(\s*(gzinflate|gzuncompress|str_rot13|base64_decode)?\s*\(?\s*['"][A-Za-z0-9+\/=]{200,}/ ascii nocase
    condition:
        filesize < 4MB and $php and $e
}

rule Yamori_Webshell_JSP_Exec
{
    meta:
        description = "JSP web shell: a request parameter run through Runtime.exec or ProcessBuilder"
        severity = "high"
        reference = "behaviour: server-side Java page running commands an HTTP request supplies (ATT&CK T1505.003)"
    strings:
        $jsp1 = "<%" ascii
        $jsp2 = "request.getParameter" ascii
        $exec1 = /Runtime\.getRuntime\(\)\.exec\s*\(\s*request\.getParameter/ ascii
        $exec2 = "Runtime.getRuntime().exec(" ascii
        $exec3 = "new ProcessBuilder(" ascii
        $out = "getInputStream()" ascii
    condition:
        filesize < 2MB and $jsp1 and ($exec1 or ($jsp2 and ($exec2 or $exec3) and $out))
}
