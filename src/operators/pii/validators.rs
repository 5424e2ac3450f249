//! Checksums and structural rules that turn a pattern match into a reliable detection.
//!
//! Each function takes the matched text and says whether it is a plausible instance of the
//! entity. They are pure and table-tested; regexes find candidates, these decide.

use sha2::{Digest, Sha256};

fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.chars().filter_map(|c| c.to_digit(10))
}

/// Luhn (mod 10) checksum, as used by payment cards and IMEIs.
pub fn luhn(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() < 2 {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card: 12..=19 digits, a known issuer prefix, and a valid Luhn checksum.
pub fn credit_card(s: &str) -> bool {
    let ds: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if !(12..=19).contains(&ds.len()) || !luhn(&ds) {
        return false;
    }
    let prefix2: u32 = ds[..2].parse().unwrap_or(0);
    let prefix4: u32 = ds[..4].parse().unwrap_or(0);
    match ds.as_bytes()[0] {
        b'4' => true,                                                                 // Visa
        b'5' => (51..=55).contains(&prefix2) || (50..=59).contains(&prefix2), // Mastercard, Maestro
        b'2' => (2221..=2720).contains(&prefix4) || prefix2 == 22 || prefix4 == 2131, // MC 2-series, JCB
        b'3' => matches!(prefix2, 30 | 34 | 35 | 36 | 37 | 38 | 39), // Amex, Diners, JCB
        b'6' => true,                                                // Discover, UnionPay, Maestro
        b'1' => prefix4 == 1800 || ds.len() == 15,                   // JCB, UATP (15 digits)
        b'0' => prefix4 == 604,                                      // Maestro UK 0604
        _ => false,
    }
}

/// IBAN: country code, check digits, and the ISO 7064 mod-97 checksum.
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
        .collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u64 = 0;
    for &b in rotated {
        let value = match b {
            b'0'..=b'9' => (b - b'0') as u64,
            b'A'..=b'Z' => (b - b'A' + 10) as u64,
            b'a'..=b'z' => (b - b'a' + 10) as u64,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// US Social Security number rules: area not 000, 666 or 9xx; group not 00; serial not 0000;
/// not a famous advertised number; consistent separators.
pub fn us_ssn(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() != 9 {
        return false;
    }
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if !(seps.is_empty() || (seps.len() == 2 && seps[0] == seps[1])) {
        return false;
    }
    let area = ds[0] * 100 + ds[1] * 10 + ds[2];
    let group = ds[3] * 10 + ds[4];
    let serial = ds[5] * 1000 + ds[6] * 100 + ds[7] * 10 + ds[8];
    let all_same = ds.iter().all(|&d| d == ds[0]);
    let compact: String = ds
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect();
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !all_same
        && !matches!(compact.as_str(), "123456789" | "078051120" | "219099999")
}

/// US ITIN (individual taxpayer identification number): nine digits starting with 9, the
/// fourth and fifth in 50-65, 70-88, 90-92 or 94-99, with no separator or two alike.
pub fn us_itin(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if ds.len() != 9 || !(seps.is_empty() || (seps.len() == 2 && seps[0] == seps[1])) {
        return false;
    }
    let group = ds[3] * 10 + ds[4];
    ds[0] == 9 && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// IPv4 or IPv6 address, as the standard library parses it; IPv4 must not be a version string
/// with a leading zero group like `01.2.3.4`.
pub fn ip_address(s: &str) -> bool {
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().is_ok() && s.matches(':').count() >= 2;
    }
    s.parse::<std::net::Ipv4Addr>().is_ok()
        && s.split('.')
            .all(|octet| octet == "0" || !octet.starts_with('0'))
}

/// An address with an optional CIDR prefix length (`10.0.0.0/8`, `2001:db8::/32`) and, for
/// IPv6, an optional zone (`fe80::1%eth0`): the address valid, the prefix within its family's
/// bits.
pub fn ip_with_prefix(s: &str) -> bool {
    let (address, prefix) = match s.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (s, None),
    };
    let v6 = address.contains(':');
    let address = match address.split_once('%') {
        Some((address, zone)) if v6 && !zone.is_empty() => address,
        Some(_) => return false,
        None => address,
    };
    let bits = if v6 { 128 } else { 32 };
    let prefix_ok = prefix
        .is_none_or(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u32>().is_ok_and(|n| n <= bits));
    prefix_ok && ip_address(address)
}

/// MAC address: six hex pairs with one consistent separator.
pub fn mac_address(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let shape_ok = if s.contains('.') {
        // Cisco's dotted form: three groups of four.
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| p.len() == 4)
    } else {
        let sep = if s.contains(':') { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        parts.len() == 6 && parts.iter().all(|p| p.len() == 2)
    };
    // All zeros and the broadcast address name no device.
    shape_ok
        && hex.len() == 12
        && !hex.chars().all(|c| c == '0')
        && !hex.chars().all(|c| c.eq_ignore_ascii_case(&'f'))
}

/// A calendar date in d/m/y, m/d/y or y-m-d order with a plausible year.
pub fn date(s: &str) -> bool {
    let parts: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .take(3)
        .filter_map(|p| p.parse().ok())
        .collect();
    if parts.len() != 3 {
        return false;
    }
    let first_len = s.chars().take_while(|c| c.is_ascii_digit()).count();
    let (y, a, b) = if first_len == 4 {
        (parts[0], parts[1], parts[2])
    } else {
        (parts[2], parts[0], parts[1])
    };
    let year_ok = (1900..=2100).contains(&y) || (first_len != 4 && y < 100);
    let valid_md = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    year_ok && (valid_md(a, b) || valid_md(b, a))
}

/// UK NHS number: ten digits with a mod-11 check digit.
pub fn uk_nhs(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() != 10 {
        return false;
    }
    let sum: u32 = ds[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == ds[9]
}

/// Spanish DNI/NIF (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), letter mod 23.
pub fn es_nif(s: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let compact: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let bytes = compact.to_ascii_uppercase().into_bytes();
    if bytes.len() != 9 {
        return false;
    }
    let mut number = String::new();
    match bytes[0] {
        b'X' => number.push('0'),
        b'Y' => number.push('1'),
        b'Z' => number.push('2'),
        b'0'..=b'9' => number.push(bytes[0] as char),
        _ => return false,
    }
    for &b in &bytes[1..8] {
        if !b.is_ascii_digit() {
            return false;
        }
        number.push(b as char);
    }
    let Ok(n) = number.parse::<u32>() else {
        return false;
    };
    LETTERS[(n % 23) as usize] == bytes[8]
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin legacy/P2SH address (Base58Check with a double SHA-256 checksum) or a bech32
/// (`bc1`) address of plausible length and alphabet.
pub fn bitcoin_address(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("bc1") {
        const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        return (25..=87).contains(&rest.len()) && rest.chars().all(|c| BECH32.contains(c));
    }
    base58check(s)
}

fn base58check(s: &str) -> bool {
    if !(25..=35).contains(&s.len()) {
        return false;
    }
    // Big-number decode into 25 bytes.
    let mut bytes = [0u8; 25];
    for c in s.bytes() {
        let Some(mut carry) = BASE58.iter().position(|&b| b == c).map(|p| p as u32) else {
            return false;
        };
        for byte in bytes.iter_mut().rev() {
            carry += 58 * (*byte as u32);
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return false;
        }
    }
    let checksum = Sha256::digest(Sha256::digest(&bytes[..21]));
    checksum[..4] == bytes[21..]
}

/// Ethereum address: `0x` and 40 hex digits (checksum case not required).
pub fn ethereum_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_table() {
        type Check = fn(&str) -> bool;
        let cases: &[(&str, Check, &str, bool)] = &[
            ("luhn ok", credit_card, "4111 1111 1111 1111", true),
            ("luhn 13 digit visa", credit_card, "4218196001337", true),
            ("diners 14", credit_card, "30376311656670", true),
            ("mc 2-series", credit_card, "2243150983930104", true),
            ("jcb 15 digit", credit_card, "213128569146303", true),
            ("luhn bad", credit_card, "4111 1111 1111 1112", false),
            ("too short", credit_card, "4111 1111 111", false),
            ("unknown issuer", credit_card, "9111111111111111", false),
            ("iban gb", iban, "GB82 WEST 1234 5698 7654 32", true),
            ("iban de", iban, "DE89370400440532013000", true),
            ("iban bad check", iban, "GB82WEST12345698765433", false),
            ("iban lowercase cc", iban, "gb82WEST12345698765432", false),
            ("ssn ok", us_ssn, "643-21-6917", true),
            ("ssn plain", us_ssn, "643216917", true),
            ("ssn area 000", us_ssn, "000-21-6917", false),
            ("ssn area 666", us_ssn, "666-21-6917", false),
            ("ssn area 9xx", us_ssn, "912-21-6917", false),
            ("ssn group 00", us_ssn, "643-00-6917", false),
            ("ssn serial 0000", us_ssn, "643-21-0000", false),
            ("ssn mixed separators", us_ssn, "643-21 6917", false),
            ("ssn advert", us_ssn, "078-05-1120", false),
            ("ipv4", ip_address, "150.162.171.178", true),
            ("ipv4 out of range", ip_address, "256.1.1.1", false),
            ("ipv4 leading zero", ip_address, "01.2.3.4", false),
            (
                "ipv6",
                ip_address,
                "c8d5:7717:9055:a36f:4aa5:f9d4:335f:2f59",
                true,
            ),
            ("ipv6 short", ip_address, "fe80::1", true),
            ("not ipv6", ip_address, "12:30", false),
            ("mac colon", mac_address, "00:1A:2b:3C:4d:5E", true),
            ("mac cisco dotted", mac_address, "0012.3456.789A", true),
            ("mac broadcast", mac_address, "FF:FF:FF:FF:FF:FF", false),
            ("ip with prefix", ip_with_prefix, "10.0.0.0/8", true),
            (
                "ipv6 with zone and prefix",
                ip_with_prefix,
                "2001:db8::%eth0/128",
                true,
            ),
            ("ipv4 prefix too long", ip_with_prefix, "10.0.0.0/33", false),
            ("ipv6 mapped ipv4", ip_with_prefix, "::ffff:192.0.2.1", true),
            (
                "ipv6 two compressions",
                ip_with_prefix,
                "2001::db8::1",
                false,
            ),
            ("itin", us_itin, "911-70-1234", true),
            ("itin group out of range", us_itin, "911-89-1234", false),
            ("itin is not an ssn area", us_itin, "078-05-1123", false),
            ("mac dash", mac_address, "00-1A-2B-3C-4D-5E", true),
            ("mac zero", mac_address, "00:00:00:00:00:00", false),
            ("date us", date, "4/18/1960", true),
            ("date iso", date, "2010-12-17", true),
            ("date eu", date, "31.12.1999", true),
            ("not a date", date, "13/13/1999", false),
            ("year out of range", date, "12/12/1234", false),
            ("nhs ok", uk_nhs, "943 476 5919", true),
            ("nhs bad", uk_nhs, "943 476 5918", false),
            ("nif ok", es_nif, "12345678Z", true),
            ("nie ok", es_nif, "X1234567L", true),
            ("nif bad", es_nif, "12345678A", false),
            (
                "btc legacy",
                bitcoin_address,
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                true,
            ),
            (
                "btc p2sh",
                bitcoin_address,
                "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
                true,
            ),
            (
                "btc bad checksum",
                bitcoin_address,
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
                false,
            ),
            (
                "btc bech32",
                bitcoin_address,
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                true,
            ),
            (
                "eth",
                ethereum_address,
                "0x52908400098527886E0F7030069857D2E4169EE7",
                true,
            ),
            ("eth short", ethereum_address, "0x5290840009852788", false),
        ];
        for (name, check, input, expected) in cases {
            assert_eq!(check(input), *expected, "{name}: {input}");
        }
    }
}
