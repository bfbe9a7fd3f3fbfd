"""ISO 4217 active currency codes and their minor-unit exponents.

Money travels as an integer count of minor units; the exponent says how many
minor units make one major unit (EUR 2: 1050 is 10.50; JPY 0; BHD 3).
"""

from __future__ import annotations

import re

_TABLE = """
AED2 AFN2 ALL2 AMD2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BHD3 BIF0 BMD2 BND2
BOB2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHF2 CLP0 CNY2 COP2 CRC2 CUP2 CVE2
CZK2 DJF0 DKK2 DOP2 DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2 GIP2 GMD2
GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2 HUF2 IDR2 ILS2 INR2 IQD3 IRR2 ISK0 JMD2 JOD3 JPY0
KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2 LBP2 LKR2 LRD2 LSL2 LYD3 MAD2
MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MYR2 MZN2 NAD2 NGN2 NIO2
NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0
SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2 THB2
TJS2 TMT2 TND3 TOP2 TRY2 TTD2 TWD2 TZS2 UAH2 UGX0 USD2 UYU2 UZS2 VED2 VES2 VND0 VUV0
WST2 XAF0 XCD2 XCG2 XOF0 XPF0 YER2 ZAR2 ZMW2 ZWG2
"""

_ASCII_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() would take "١٢" and "²"
EXPONENTS: dict[str, int] = {entry[:3]: int(entry[3]) for entry in _TABLE.split()}


def format_amount(amount_minor: int, currency: str) -> str:
    """`1050, "EUR"` -> `"10.50 EUR"`, for people to read."""
    exponent = EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**exponent)
    text = f"{whole:,}" + (f".{frac:0{exponent}d}" if exponent else "")
    return f"{sign}{text} {currency}"


def parse_amount(text: str, currency: str) -> int:
    """`"10.5", "EUR"` -> `1050`. Refuses more decimals than the currency has."""
    exponent = EXPONENTS.get(currency)
    if exponent is None:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    whole, _, frac = text.strip().partition(".")
    if not _ASCII_DIGITS.fullmatch(whole) or (frac and not _ASCII_DIGITS.fullmatch(frac)):
        raise ValueError(f"{text!r} is not an amount like 12 or 12.50")
    if len(frac) > exponent:
        raise ValueError(f"{currency} has {exponent} decimal places; {text!r} has more")
    minor: int = int(whole) * 10**exponent + int(frac.ljust(exponent, "0") or "0")
    return minor
