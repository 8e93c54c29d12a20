"""CIDR functions (research §5.8), also reachable as `sys.parseCidr(...)` etc."""

from __future__ import annotations

import ipaddress

from provider.templates.context import EvalContext
from provider.templates.functions._registry import arg_int, arg_str, builtin, fn_error


def _network(fn: str, text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise fn_error(fn, f"'{text}' is not a valid CIDR range.") from None


@builtin("parseCidr", 1, 1)
def _parse_cidr(ctx: EvalContext, args: list) -> dict:
    net = _network("parseCidr", arg_str("parseCidr", args, 0))
    out: dict = {"network": str(net.network_address), "netmask": str(net.netmask)}
    if net.version == 4:
        out["broadcast"] = str(net.broadcast_address)
        if net.prefixlen >= 31:
            first, last = net.network_address, net.broadcast_address
        else:
            first, last = net.network_address + 1, net.broadcast_address - 1
        out["firstUsable"] = str(first)
        out["lastUsable"] = str(last)
    else:
        out["firstUsable"] = str(net.network_address)
        out["lastUsable"] = str(net.broadcast_address)
    out["cidr"] = net.prefixlen
    return out


@builtin("cidrSubnet", 3, 3)
def _cidr_subnet(ctx: EvalContext, args: list) -> str:
    net = _network("cidrSubnet", arg_str("cidrSubnet", args, 0))
    new_prefix = arg_int("cidrSubnet", args, 1)
    index = arg_int("cidrSubnet", args, 2)
    if new_prefix < net.prefixlen or new_prefix > net.max_prefixlen:
        raise fn_error("cidrSubnet", f"the new CIDR {new_prefix} must be between {net.prefixlen} and "
                                     f"{net.max_prefixlen}.")
    count = 2 ** (new_prefix - net.prefixlen)
    if index < 0 or index >= count:
        raise fn_error("cidrSubnet", f"the subnet index {index} is out of range (0-{count - 1}).")
    size = 2 ** (net.max_prefixlen - new_prefix)
    start = int(net.network_address) + index * size
    return f"{ipaddress.ip_address(start) if net.version == 4 else ipaddress.IPv6Address(start)}/{new_prefix}"


@builtin("cidrHost", 2, 2)
def _cidr_host(ctx: EvalContext, args: list) -> str:
    net = _network("cidrHost", arg_str("cidrHost", args, 0))
    index = arg_int("cidrHost", args, 1)
    usable = net.num_addresses - (2 if net.version == 4 and net.prefixlen < 31 else 1)
    if index < 0 or index >= usable:
        raise fn_error("cidrHost", f"the host index {index} is out of range for '{net}'.")
    return str(net.network_address + 1 + index)
