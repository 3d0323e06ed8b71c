"""DNS numbers with their names (STYLE habit 7): record types, classes, rcodes and
opcodes, as IANA's "Domain Name System (DNS) Parameters" registry lists them."""

from __future__ import annotations

__all__ = ["TYPE_NAMES", "CLASS_NAMES", "RCODE_NAMES", "OPCODE_NAMES"]

# RFC 1035 §3.2.2, IANA "Resource Record (RR) TYPEs"; tcpdump's spelling.
TYPE_NAMES: dict[int, str] = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR",
    10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT",
    17: "RP", 18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP_PTR",
    24: "SIG", 25: "KEY", 26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT",
    31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT",
    38: "A6", 39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP",
    45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3",
    51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 56: "NINFO", 57: "RKEY",
    58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 100: "UINFO", 101: "UID", 102: "GID",
    103: "UNSPEC", 104: "NID", 105: "L32", 106: "L64", 107: "LP", 108: "EUI48",
    109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB",
    254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA", 258: "AVC", 259: "DOA",
    260: "AMTRELAY", 32768: "TA", 32769: "DLV",
}  # fmt: skip
CLASS_NAMES: dict[int, str] = {1: "IN", 3: "CHAOS", 4: "HS", 254: "NONE", 255: "ANY"}
# RFC 1035 §4.1.1, RFC 6895 §2.3 (16-23 need EDNS's extended rcode); tcpdump's spelling.
RCODE_NAMES: dict[int, str] = {
    0: "NoError", 1: "FormErr", 2: "ServFail", 3: "NXDomain", 4: "NotImp", 5: "Refused",
    6: "YXDomain", 7: "YXRRSet", 8: "NXRRSet", 9: "NotAuth", 10: "NotZone", 11: "DSOTypeNI",
    16: "BadVers", 17: "BadKey", 18: "BadTime", 19: "BadMode", 20: "BadName", 21: "BadAlg",
    22: "BadTrunc", 23: "BadCookie",
}  # fmt: skip
OPCODE_NAMES: dict[int, str] = {
    0: "Query",
    1: "IQuery",
    2: "Status",
    4: "Notify",
    5: "Update",
    6: "DSO",
}
