//! `wasi_hello [ARGS...]`: what a WASI program sees of its command line.
//!
//! Prints `hello from wasi`, `argc=N`, each argument as `arg[i]=...`, each
//! environment variable as `env K=V` (sorted by name), then exits with the
//! code in `EXIT_CODE` if that variable is set (`proc_exit`), else 0.

fn main() {
    println!("hello from wasi");
    let args: Vec<String> = std::env::args().collect();
    println!("argc={}", args.len());
    for (i, arg) in args.iter().enumerate() {
        println!("arg[{i}]={arg}");
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    for (key, value) in &vars {
        println!("env {key}={value}");
    }
    if let Ok(code) = std::env::var("EXIT_CODE") {
        let code = code.parse().unwrap_or_else(|_| panic!("EXIT_CODE `{code}` is not a number"));
        std::process::exit(code);
    }
}
