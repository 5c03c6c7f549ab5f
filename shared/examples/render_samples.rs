//! Renders the staff email for every sample delivery in `samples/`, plus edge cases built here,
//! so people can look at them in a browser:
//!
//! ```text
//! cargo run -p shared --example render_samples -- out/emails
//! ```
//!
//! Writes `<name>.html`, `<name>.txt`, `<name>.subject.txt` and the calendar invitation
//! `<name>.ics` (as attached, CRLF and folded) per email, and an `index.html` linking them. The
//! title, the links to act and the footer naming the attachment are in the `.html`/`.txt`.

use std::fs;
use std::path::{Path, PathBuf};

use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::contract::message::{Answer, BookingMessage, Cancellation, Person};
use shared::delivery::email::render;

const RECEIVED_AT: &str = "2026-02-10T17:03:13.000Z";

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "out/emails".to_owned()),
    );
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    if let Err(e) = run(&samples, &out) {
        eprintln!("render_samples: {e}");
        std::process::exit(1);
    }
}

fn run(samples: &Path, out: &Path) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut emails: Vec<(String, BookingMessage)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();

    let mut paths: Vec<PathBuf> = fs::read_dir(samples)
        .map_err(|e| format!("{}: {e}", samples.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let body = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match parse_delivery(&body, RECEIVED_AT) {
            Ok(Delivery::Booking(message)) => emails.push((name, *message)),
            Ok(other) => skipped.push(format!("{name}: {other:?} (no email)")),
            Err(e) => skipped.push(format!("{name}: {} (no email)", e.message())),
        }
    }

    let base = |name: &str| -> Result<BookingMessage, String> {
        emails
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
            .ok_or_else(|| format!("samples/{name}.json is needed for the edge cases"))
    };
    emails.extend(edge_cases(
        &base("booking-created")?,
        &base("booking-cancelled")?,
    ));

    let mut index = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Rendered staff emails</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em;\">\n\
         <h1>Rendered staff emails</h1>\n<table cellpadding=\"6\" style=\"border-collapse:collapse;\">\n\
         <tr><th align=\"left\">Sample</th><th align=\"left\">Subject</th><th></th><th></th></tr>\n",
    );
    for (name, message) in &emails {
        let email = render(message);
        write(out, &format!("{name}.html"), &email.html)?;
        write(out, &format!("{name}.txt"), &email.text)?;
        write(
            out,
            &format!("{name}.subject.txt"),
            &format!("{}\n", email.subject),
        )?;
        let ics = match &email.calendar {
            Some(invitation) => {
                write(out, &format!("{name}.ics"), &invitation.text)?;
                format!(
                    "<a href=\"{n}.ics\">{method}</a>",
                    n = escape(name),
                    method = invitation.method.as_str()
                )
            }
            None => "no .ics".to_owned(),
        };
        index.push_str(&format!(
            "<tr><td><a href=\"{n}.html\">{n}</a></td><td>{s}</td><td><a href=\"{n}.txt\">text</a></td><td>{ics}</td></tr>\n",
            n = escape(name),
            s = escape(&email.subject),
        ));
        println!("{name}: {}", email.subject);
    }
    index.push_str("</table>\n");
    if !skipped.is_empty() {
        index.push_str("<h2>Samples without an email</h2>\n<ul>\n");
        for s in &skipped {
            index.push_str(&format!("<li>{}</li>\n", escape(s)));
            println!("skipped {s}");
        }
        index.push_str("</ul>\n");
    }
    index.push_str("</body></html>\n");
    write(out, "index.html", &index)?;
    println!("wrote {} emails to {}", emails.len(), out.display());
    Ok(())
}

/// Bookings the samples do not cover.
fn edge_cases(
    created: &BookingMessage,
    cancelled: &BookingMessage,
) -> Vec<(String, BookingMessage)> {
    let evil = "<script>alert(\"x\")</script>";

    let mut hostile = created.clone();
    let b = &mut hostile.booking;
    b.event_type = Some(format!("Consult {evil}\r\nBcc: victim@example.com"));
    if let Some(booker) = b.booker.as_mut() {
        booker.name = Some(format!("Eve \"<b>Bold</b>\" {evil}"));
    }
    b.notes = Some(format!(
        "<img src=x onerror=alert(1)>\nSecond line & more {evil}"
    ));
    b.answers.push(Answer {
        label: format!("<i>Label</i> {evil}"),
        value: format!("<a href=\"javascript:alert(1)\">click</a> {evil}"),
    });
    b.meeting_url = Some("javascript:alert(1)".to_owned());
    b.location = Some(format!("Back room {evil}"));

    let mut no_attendee = created.clone();
    no_attendee.booking.booker = None;
    no_attendee.booking.guests.clear();

    let mut unknown_zone = created.clone();
    unknown_zone.booking.organizer.time_zone = Some("Mars/Olympus".to_owned());
    unknown_zone.booking.time_format = Some("HH:mm".to_owned());

    let mut truncated = created.clone();
    let b = &mut truncated.booking;
    b.truncated = true;
    b.notes = Some(format!(
        "{}…",
        "A very long note that goes on and on. ".repeat(40)
    ));
    b.guests.push(Person {
        name: Some("Pat Parent".to_owned()),
        email: Some("pat@example.org".to_owned()),
        ..Default::default()
    });
    b.guests_omitted = 12;
    b.answers.push(Answer {
        label: "What would you like to cover?".to_owned(),
        value: "1. The spring schedule\n2. Fees for siblings\n3. Whether lessons can move online when the weather is bad".to_owned(),
    });

    let mut reschedule_request = cancelled.clone();
    reschedule_request.booking.cancellation = Some(Cancellation {
        reason: Some("Host is travelling that week.\nPlease pick another slot.".to_owned()),
        cancelled_by: Some("host@example.com".to_owned()),
        reschedule_requested: true,
    });

    // A custom title (in the subject too), rescheduling disabled: no reschedule link.
    let mut custom_title = created.clone();
    custom_title.booking.title = Some("Manuscript review: Alex Student".to_owned());
    custom_title.booking.disable_rescheduling = true;

    // No bookerUrl: no link to act at all; no iCalUID: a derived UID in the .ics.
    let mut no_booker_url = created.clone();
    no_booker_url.booking.booker_url = None;
    no_booker_url.booking.ical_uid = None;
    no_booker_url.booking.ical_sequence = None;

    vec![
        ("edge-custom-title".to_owned(), custom_title),
        ("edge-no-booker-url".to_owned(), no_booker_url),
        ("edge-hostile-html".to_owned(), hostile),
        ("edge-no-attendee".to_owned(), no_attendee),
        ("edge-unknown-time-zone".to_owned(), unknown_zone),
        ("edge-truncated".to_owned(), truncated),
        ("edge-reschedule-request".to_owned(), reschedule_request),
    ]
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    let path = dir.join(name);
    fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
