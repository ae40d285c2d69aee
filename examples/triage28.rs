fn main() {
    let dir = std::path::Path::new(&std::env::var("DIR").unwrap_or("fuzz/corpus/reference_schedule".into())).to_path_buf();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let only = std::env::args().nth(1);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(o) = &only { if !name.contains(o.as_str()) { continue; } }
        let data = std::fs::read(&path).unwrap();
        let input = racehound::fuzz::reference_schedule_input(&data);
        match racehound::fuzz::check_schedule(&input) {
            Ok(()) => println!("PASS {name}"),
            Err(why) => println!("FAIL {name}\n{why}\n"),
        }
    }
}
