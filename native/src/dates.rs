//! Dates as secstash renders them (`parsers.ecs.iso_ms`): UTC, milliseconds, `Z`, the year unpadded.

use std::cell::RefCell;

/// The largest epoch second Python's datetime can represent (9999-12-31T23:59:59Z).
pub const MAX_SECONDS: i64 = 253_402_300_799;

/// From here on (year 2096) Python renders epoch milliseconds through a float (`parsers.ecs.epoch_ms_to_iso`),
/// whose rounding this does not copy: callers refuse such times.
pub const EXACT_MS: i64 = 4_000_000_000_000;

thread_local! {
    // A record's events, and every document's `event.ingested`, fall in a few seconds (a flow's start and end
    // a minute apart): each second is rendered once, kept in a small table indexed by the second.
    static SECONDS: RefCell<[(i64, [u8; 32], u8); SLOTS]> = const { RefCell::new([(i64::MIN, [0u8; 32], 0); SLOTS]) };
}

const SLOTS: usize = 64;

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` for epoch milliseconds in 0..=MAX_SECONDS*1000+999.
pub fn iso_ms(out: &mut Vec<u8>, ms: i64) {
    let (seconds, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    SECONDS.with(|table| {
        let mut table = table.borrow_mut();
        let slot = &mut table[seconds.rem_euclid(SLOTS as i64) as usize];
        if slot.0 != seconds {
            let mut text = Vec::with_capacity(32);
            second_prefix(&mut text, seconds);
            slot.1[..text.len()].copy_from_slice(&text);
            *slot = (seconds, slot.1, text.len() as u8);
        }
        out.extend_from_slice(&slot.1[..usize::from(slot.2)]);
    });
    out.extend_from_slice(&[
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
        b'Z',
    ]);
}

/// `YYYY-MM-DDTHH:MM:SS.` of an epoch second (Howard Hinnant's civil_from_days).
fn second_prefix(out: &mut Vec<u8>, seconds: i64) {
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    out.extend_from_slice(itoa::Buffer::new().format(year).as_bytes());
    for (separator, value) in [(b'-', month), (b'-', day), (b'T', rem / 3600), (b':', rem / 60 % 60), (b':', rem % 60)]
    {
        out.extend_from_slice(&[separator, b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]);
    }
    out.push(b'.');
}
