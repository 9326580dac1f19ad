//! Backend selection at run time: `--device auto|flex|ndarray|wgpu|cuda`.
//!
//! Which backends exist is decided at build time by cargo features; which one runs is decided
//! here. `auto` takes a real GPU when one was compiled in and found (CUDA, then a wgpu adapter
//! that is not a software rasteriser), and otherwise the default CPU backend.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::TrainingError;

/// A backend the user can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// A GPU if one was compiled in and found, else the default CPU backend.
    #[default]
    Auto,
    /// burn-flex: pure-Rust CPU backend (rayon + SIMD).
    Flex,
    /// burn-ndarray: the older CPU backend (deprecated upstream).
    Ndarray,
    /// wgpu: Vulkan, Metal or DX12, whichever the machine has (Mesa's lavapipe runs it on a CPU).
    Wgpu,
    /// CUDA device 0.
    Cuda,
}

impl DeviceChoice {
    /// Every name `--device` accepts.
    pub const NAMES: [&'static str; 5] = ["auto", "flex", "ndarray", "wgpu", "cuda"];

    /// Whether this build can run the backend.
    pub fn compiled(self) -> bool {
        match self {
            DeviceChoice::Auto => true,
            DeviceChoice::Flex => cfg!(feature = "flex"),
            DeviceChoice::Ndarray => cfg!(feature = "ndarray"),
            DeviceChoice::Wgpu => cfg!(feature = "wgpu"),
            DeviceChoice::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The CPU backend `auto` falls back to: flex, the faster of the two in our measurements
    /// (README, "Backends"), else ndarray.
    pub fn default_cpu() -> Option<DeviceChoice> {
        [DeviceChoice::Flex, DeviceChoice::Ndarray].into_iter().find(|c| c.compiled())
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Flex => "flex",
            DeviceChoice::Ndarray => "ndarray",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Cuda => "cuda",
        };
        f.write_str(name)
    }
}

impl FromStr for DeviceChoice {
    type Err = TrainingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "flex" | "cpu" => Ok(DeviceChoice::Flex),
            "ndarray" => Ok(DeviceChoice::Ndarray),
            "wgpu" | "gpu" => Ok(DeviceChoice::Wgpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(TrainingError::Device(format!(
                "unknown device {other:?}; expected one of {}",
                DeviceChoice::NAMES.join(", ")
            ))),
        }
    }
}

/// A device ready to run, with a human-readable description for logs and results files.
#[derive(Clone, Debug)]
pub struct SelectedDevice {
    /// The plain (non-autodiff) device; training uses `device.clone().autodiff()`.
    pub device: Device,
    /// Which backend it is.
    pub choice: DeviceChoice,
    /// E.g. `flex (cpu, 2 threads)` or `wgpu (NVIDIA H100, DiscreteGpu)`.
    pub description: String,
}

/// Cores this process may use (`RAYON_NUM_THREADS` wins when set).
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every item, `jobs` at a time, each worker in its own rayon pool of
/// `threads` threads; `done` sees each result as it finishes (on the calling thread).
pub fn run_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(&T, R),
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, f) = (&next, &f);
            scope.spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads.max(1))
                    .build()
                    .expect("a rayon thread pool can be built");
                pool.install(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= items.len() {
                            break;
                        }
                        if tx.send((i, f(&items[i]))).is_err() {
                            break;
                        }
                    }
                });
            });
        }
        drop(tx);
        for (i, r) in rx {
            done(&items[i], r);
        }
    });
}

/// Opens the backend the user asked for.
///
/// Errors when the backend was not compiled into this build (naming the cargo feature to add)
/// or when a GPU backend finds no device.
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, TrainingError> {
    if !choice.compiled() {
        return Err(TrainingError::Device(format!(
            "backend {choice} is not compiled into this build; rebuild with `--features {choice}`"
        )));
    }
    match choice {
        DeviceChoice::Auto => {
            #[cfg(feature = "cuda")]
            if let Ok(dev) = open_cuda() {
                return Ok(dev);
            }
            #[cfg(feature = "wgpu")]
            if let Ok((dev, is_hardware)) = open_wgpu()
                && is_hardware
            {
                return Ok(dev);
            }
            let cpu = DeviceChoice::default_cpu().ok_or_else(|| {
                TrainingError::Device(
                    "no GPU found and no CPU backend compiled in; rebuild with `--features flex`"
                        .into(),
                )
            })?;
            select_device(cpu)
        }
        #[cfg(feature = "flex")]
        DeviceChoice::Flex => Ok(SelectedDevice {
            device: Device::flex(),
            choice,
            description: format!("flex (cpu, {} threads)", cpu_threads()),
        }),
        #[cfg(feature = "ndarray")]
        DeviceChoice::Ndarray => {
            #[allow(deprecated)] // supported on purpose, beside flex, to compare the two
            let device = Device::ndarray();
            Ok(SelectedDevice {
                device,
                choice,
                description: format!("ndarray (cpu, {} threads)", cpu_threads()),
            })
        }
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => open_wgpu().map(|(d, _)| d),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => open_cuda(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("checked by `compiled` above"),
    }
}

/// Opens the default wgpu adapter; returns whether it is real hardware (not a CPU rasteriser
/// such as lavapipe or llvmpipe).
#[cfg(feature = "wgpu")]
fn open_wgpu() -> Result<(SelectedDevice, bool), TrainingError> {
    use burn::tensor::wgpu::wgpu::DeviceType;
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| TrainingError::Device(format!("wgpu found no usable adapter: {e}")))?;
    let info = setup.adapter.get_info();
    let hardware = !matches!(info.device_type, DeviceType::Cpu);
    let description = format!("wgpu ({}, {:?}, {:?})", info.name, info.device_type, info.backend);
    Ok((SelectedDevice { device, choice: DeviceChoice::Wgpu, description }, hardware))
}

#[cfg(feature = "cuda")]
fn open_cuda() -> Result<SelectedDevice, TrainingError> {
    // burn's CUDA runtime panics when no driver is present; contain that here.
    let device = std::panic::catch_unwind(|| {
        let device = Device::cuda(0);
        let _ = burn::prelude::Tensor::<1>::zeros([1], &device).into_data();
        device
    })
    .map_err(|_| TrainingError::Device("CUDA device 0 could not be opened".into()))?;
    Ok(SelectedDevice { device, choice: DeviceChoice::Cuda, description: "cuda (device 0)".into() })
}
