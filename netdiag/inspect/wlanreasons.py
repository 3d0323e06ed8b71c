# ruff: noqa: E501  (tcpdump's texts are long; one per line reads best)
"""IEEE 802.11 reason codes (IEEE 802.11-2020 Table 9-49) in tcpdump 4.99's words, for
the Deauthentication and Disassociation lines (``wantext.py``); others are "Reserved"."""

from __future__ import annotations

__all__ = ["REASONS"]

#: 802.11 reason codes (IEEE 802.11-2020 Table 9-49), as tcpdump words them (long lines)
REASONS: dict[int, str] = {
    1: "Unspecified reason",
    4: "Disassociated due to inactivity",
    7: "Class 3 frame received from nonassociated STA",
    8: "Disassociated because sending STA is leaving (or has left) BSS",
    9: "STA requesting (re)association is not authenticated with responding STA",
    10: "Disassociated because the information in the Power Capability element is unacceptable",
    12: "Disassociated due to BSS transition management",
    14: "Message integrity code (MIC) failure",
    15: "4-Way Handshake timeout",
    17: "Information element in 4-Way Handshake different from (Re)AssociationRequest/Probe Response/Beacon frame",
    19: "Invalid pairwise cipher",
    20: "Invalid AKMP",
    21: "Unsupported RSNE version",
    22: "Invalid RSNE capabilities",
    23: "IEEE 802.1X authentication failed",
    24: "Cipher suite rejected because of the security policy",
    26: "TDLS direct-link teardown for unspecified reason",
    27: "Disassociated because session terminated by SSP request",
    28: "Disassociated because of lack of SSP roaming agreement",
    31: "TS deleted because QoS AP lacks sufficient bandwidth for this QoS STA due to a change in BSS service characteristics or operational mode (e.g. an HT BSS change from 40 MHz channel to 20 MHz channel)",
    32: "Disassociated for unspecified, QoS-related reason",
    34: "Disassociated because of excessive number of frames that need to be acknowledged, but are not acknowledged due to AP transmissions and/or poor channel conditions",
    36: "Requested from peer STA as the STA is leaving the BSS (or resetting)",
    39: "Requested from peer STA due to time out",
    45: "Peer STA does not support the requested cipher suite",
    47: "In a DLS Teardown frame: The teardown was initiated by the AP. In a Disassociation frame: Disassociated due to external service requirements",
    48: "Invalid FT Action frame count",
    49: "Invalid pairwise master key identifier (PMKID)",
    50: "Invalid MDE",
    51: "Invalid FTE",
    52: "Mesh peering canceled for unknown reasons",
    54: "The received information violates the Mesh Configuration policy configured in the mesh STA profile",
    55: "The mesh STA has received a Mesh Peering Close frame requesting to close the mesh peering",
    56: "The mesh STA has resent dot11MeshMaxRetries Mesh Peering Open frames, without receiving a Mesh Peering Confirm frame",
    58: "The mesh STA fails to unwrap the GTK or the values in the wrapped contents do not match",
    59: "The mesh STA receives inconsistent information about the mesh parameters between mesh peering Management frames",
    60: "The mesh STA fails the authenticated mesh peering exchange because due to failure in selecting either the pairwise ciphersuite or group ciphersuite",
    62: "The mesh STA does not have forwarding information for this destination",
    63: "The mesh STA determines that the link to the next hop of an active path in its forwarding information is no longer usable",
    64: "The Deauthentication frame was sent because the MAC address of the STA already exists in the mesh BSS",
    65: "The mesh STA performs channel switch to meet regulatory requirements",
    66: "The mesh STA performs channel switching with unspecified reason",
}
