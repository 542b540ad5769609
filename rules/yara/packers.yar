/*
 * packers.yar — ELF executables packed with UPX or with UPX's markers
 * altered. Packed binaries are rare in distribution packages and common
 * in dropped malware, which packs to evade signatures.
 */

rule Yamori_Packer_UPX_ELF
{
    meta:
        description = "ELF executable packed with UPX"
        severity = "medium"
        reference = "behaviour: a packed executable hides its code from inspection (ATT&CK T1027.002)"
    strings:
        $upx1 = "UPX!" ascii
        $upx2 = "$Info: This file is packed with the UPX executable packer" ascii
        $upx3 = "$Id: UPX" ascii
    condition:
        uint32(0) == 0x464c457f and filesize < 32MB and ($upx1 in (0..1024) or $upx2 or $upx3)
}

rule Yamori_Packer_UPX_Tampered_ELF
{
    meta:
        description = "ELF executable with a UPX stub whose UPX! markers were removed or altered"
        severity = "high"
        reference = "behaviour: a packer's markers erased so unpackers fail (ATT&CK T1027.002)"
    strings:
        $stub = "PROT_EXEC|PROT_WRITE failed." ascii
        $upx = "UPX!" ascii
    condition:
        uint32(0) == 0x464c457f and filesize < 32MB and $stub and not $upx
}
