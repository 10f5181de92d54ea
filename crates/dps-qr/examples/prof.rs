#![allow(missing_docs, clippy::print_stdout)]
use std::time::Instant;
use dps_qr::*;
fn main() {
    let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse().unwrap();
    let ps: Vec<Payload> = (0..4000).map(|i| Payload::new(group, format!("SN-{i:08}").parse().unwrap(), "thermostat".parse().unwrap())).collect();
    let o = RenderOptions::default();
    let t = Instant::now();
    let mut v = 0;
    for p in &ps { v += Symbol::for_payload(p, &o).unwrap().size(); }
    println!("symbol {:?}/label v{}", t.elapsed() / 4000, v / 4000);
    let s = Symbol::for_payload(&ps[0], &o).unwrap();
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..4000 { n += s.to_png(&o).unwrap().len(); }
    println!("png {:?}/label {} bytes", t.elapsed() / 4000, n / 4000);
    for threads in [1, 2, 3, 1, 2] {
        let t = Instant::now();
        let mut a = LabelArchive::new(std::io::sink(), ArchiveOptions::default().with_threads(threads)).unwrap();
        for p in &ps { a.push(p.clone()).unwrap(); }
        a.finish().unwrap();
        println!("zip threads={threads} {:?}/label", t.elapsed() / 4000);
    }
}
