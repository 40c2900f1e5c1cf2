//! PLACEHOLDER for smsotp-dlrd (the delivery-report daemon), written by another
//! branch; this file only lets the packaging branch build. Dropped at merge.

fn main() -> std::process::ExitCode {
    eprintln!("usage: smsotp-dlrd [--config PATH]");
    std::process::ExitCode::from(2)
}
