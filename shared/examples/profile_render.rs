//! Renders the staff email for a sample and builds its SendGrid request many times, for a
//! profiler: `valgrind --tool=callgrind target/release/examples/profile_render [SAMPLE] [N]`.

use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::delivery::email;
use shared::delivery::sendgrid::{build_request, parse_mailbox, SendgridConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let sample = args.next().unwrap_or_else(|| "booking-created".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let path = format!("{}/../samples/{sample}.json", env!("CARGO_MANIFEST_DIR"));
    let Ok(Delivery::Booking(message)) =
        parse_delivery(&std::fs::read(&path).unwrap(), "2026-12-01T09:00:00.000Z")
    else {
        panic!("{sample} is not a booking");
    };
    let config = SendgridConfig {
        from: parse_mailbox("Bookings <bookings@example.com>").unwrap(),
        to: vec![parse_mailbox("staff@example.com").unwrap()],
        routes: Vec::new(),
    };
    let mut bytes = 0;
    for _ in 0..n {
        let email = email::render(&message);
        bytes += build_request(&email, &message, &config).len();
    }
    println!("{n} emails, {bytes} B of requests");
}
