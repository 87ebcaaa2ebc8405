//! Noise schedules and samplers (Euler, Euler ancestral, DDIM) following diffusers'
//! definitions, and the seeded Gaussian noise every random draw comes from. Written here
//! because candle's samplers draw from an unseeded generator: a seed must give the same
//! image every time.

use candle_core::{DType, Device, Result, Shape, Tensor};

use crate::layout::SchedulerConfig;

/// What the UNet predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    /// The added noise.
    Epsilon,
    /// The "velocity" (SD 2 768-px models).
    Velocity,
}

/// Which sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// Euler, deterministic.
    Euler,
    /// Euler with fresh noise each step (SD-Turbo's default).
    EulerAncestral,
    /// DDIM with η = 0.
    Ddim,
}

impl Sampler {
    /// The sampler for a diffusers scheduler class. Classes without their own
    /// implementation here (PNDM, LMS, DPM-Solver, …) sample with Euler on the same
    /// noise schedule, which works for any epsilon or velocity model.
    pub fn for_class(class: &str) -> Sampler {
        match class {
            "EulerAncestralDiscreteScheduler" => Sampler::EulerAncestral,
            "DDIMScheduler" => Sampler::Ddim,
            _ => Sampler::Euler,
        }
    }
}

/// Gaussian noise from a seed: SplitMix64 and the Box–Muller transform, defined here so
/// a seed means the same image across releases of Easel's dependencies.
pub struct Noise {
    state: u64,
    spare: Option<f32>,
}

impl Noise {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Noise {
        Noise {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// One standard normal sample.
    pub fn gaussian(&mut self) -> f32 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare = Some((radius * angle.sin()) as f32);
        (radius * angle.cos()) as f32
    }

    /// A tensor of standard normal samples.
    pub fn tensor<S: Into<Shape>>(
        &mut self,
        shape: S,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let values: Vec<f32> = (0..shape.elem_count()).map(|_| self.gaussian()).collect();
        Tensor::from_vec(values, shape, device)?.to_dtype(dtype)
    }
}

/// A sampling schedule of `steps` steps.
#[derive(Debug, Clone)]
pub struct Schedule {
    sampler: Sampler,
    prediction: Prediction,
    /// Timesteps the UNet is called at, from the noisiest.
    timesteps: Vec<f64>,
    /// Euler: the noise level at each timestep, then 0.
    sigmas: Vec<f64>,
    /// DDIM: ᾱ at each timestep and at the step after it.
    alphas: Vec<(f64, f64)>,
    /// Euler: how much pure noise is scaled to start from step 0.
    init_sigma: f64,
}

fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => (0..n)
            .map(|i| start + (end - start) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// ᾱ_t for every training timestep.
fn alphas_cumprod(config: &SchedulerConfig) -> Result<Vec<f64>> {
    let n = config.num_train_timesteps;
    let betas = match config.beta_schedule.as_str() {
        "scaled_linear" => linspace(config.beta_start.sqrt(), config.beta_end.sqrt(), n)
            .into_iter()
            .map(|b| b * b)
            .collect(),
        "linear" => linspace(config.beta_start, config.beta_end, n),
        other => candle_core::bail!("beta_schedule `{other}` is not supported"),
    };
    let mut product = 1.0;
    Ok(betas
        .iter()
        .map(|beta| {
            product *= 1.0 - beta;
            product
        })
        .collect())
}

/// Linear interpolation of `values` (given at 0, 1, 2, …) at `t`.
fn interpolate(values: &[f64], t: f64) -> f64 {
    let t = t.clamp(0.0, (values.len() - 1) as f64);
    let low = t.floor() as usize;
    let high = (low + 1).min(values.len() - 1);
    let frac = t - low as f64;
    values[low] * (1.0 - frac) + values[high] * frac
}

impl Schedule {
    /// The schedule `config` describes, with `steps` steps.
    pub fn new(config: &SchedulerConfig, steps: usize) -> Result<Schedule> {
        let train = config.num_train_timesteps;
        if steps == 0 || steps > train {
            candle_core::bail!("steps must be between 1 and {train}");
        }
        let prediction = match config.prediction_type.as_str() {
            "epsilon" => Prediction::Epsilon,
            "v_prediction" => Prediction::Velocity,
            other => candle_core::bail!("prediction_type `{other}` is not supported"),
        };
        let sampler = Sampler::for_class(&config.class_name);
        let alphas_cumprod = alphas_cumprod(config)?;
        let last = (train - 1) as f64;
        let mut timesteps: Vec<f64> = match config.timestep_spacing.as_str() {
            "linspace" => linspace(0.0, last, steps).into_iter().rev().collect(),
            "leading" => {
                let ratio = train / steps;
                (0..steps)
                    .rev()
                    .map(|i| (i * ratio + config.steps_offset) as f64)
                    .collect()
            }
            "trailing" => {
                let ratio = train as f64 / steps as f64;
                (0..steps)
                    .map(|i| (train as f64 - i as f64 * ratio).round() - 1.0)
                    .collect()
            }
            other => candle_core::bail!("timestep_spacing `{other}` is not supported"),
        };
        if sampler == Sampler::Ddim {
            for t in &mut timesteps {
                *t = t.round().clamp(0.0, last);
            }
        }
        let sigma_table: Vec<f64> = alphas_cumprod
            .iter()
            .map(|a| ((1.0 - a) / a).sqrt())
            .collect();
        let mut sigmas: Vec<f64> = timesteps
            .iter()
            .map(|&t| interpolate(&sigma_table, t))
            .collect();
        sigmas.push(0.0);
        let final_alpha = if config.set_alpha_to_one {
            1.0
        } else {
            alphas_cumprod[0]
        };
        // diffusers starts from the largest sigma itself with these spacings, and from
        // √(σ²+1) with `leading`.
        let init_sigma = match config.timestep_spacing.as_str() {
            "linspace" | "trailing" => sigmas[0],
            _ => (sigmas[0] * sigmas[0] + 1.0).sqrt(),
        };
        let stride = (train / steps) as f64;
        let alphas = timesteps
            .iter()
            .map(|&t| {
                let now = alphas_cumprod[t as usize];
                let prev_t = t - stride;
                let prev = if prev_t >= 0.0 {
                    alphas_cumprod[prev_t as usize]
                } else {
                    final_alpha
                };
                (now, prev)
            })
            .collect();
        Ok(Schedule {
            sampler,
            prediction,
            timesteps,
            sigmas,
            alphas,
            init_sigma,
        })
    }

    /// The sampler in use.
    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    /// Timesteps the UNet is called at.
    pub fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// Pure noise is scaled by this to start sampling from step 0.
    pub fn init_noise_sigma(&self) -> f64 {
        match self.sampler {
            Sampler::Ddim => 1.0,
            Sampler::Euler | Sampler::EulerAncestral => self.init_sigma,
        }
    }

    /// The UNet's input at step `index` (Euler divides by √(σ²+1)).
    pub fn scale_model_input(&self, sample: &Tensor, index: usize) -> Result<Tensor> {
        match self.sampler {
            Sampler::Ddim => Ok(sample.clone()),
            Sampler::Euler | Sampler::EulerAncestral => {
                let sigma = self.sigmas[index];
                sample / (sigma * sigma + 1.0).sqrt()
            }
        }
    }

    /// `original` noised to the level of step `index` (`index == len` means no noise).
    pub fn add_noise(&self, original: &Tensor, noise: &Tensor, index: usize) -> Result<Tensor> {
        match self.sampler {
            Sampler::Ddim => {
                let alpha = match self.alphas.get(index) {
                    Some((now, _)) => *now,
                    None => return Ok(original.clone()),
                };
                (original * alpha.sqrt())? + (noise * (1.0 - alpha).sqrt())?
            }
            Sampler::Euler | Sampler::EulerAncestral => {
                original + (noise * self.sigmas[index.min(self.timesteps.len())])?
            }
        }
    }

    /// One denoising step from `sample` at step `index` given the UNet's output.
    pub fn step(
        &self,
        output: &Tensor,
        index: usize,
        sample: &Tensor,
        noise: &mut Noise,
    ) -> Result<Tensor> {
        match self.sampler {
            Sampler::Ddim => {
                let (now, prev) = self.alphas[index];
                let (x0, eps) = match self.prediction {
                    Prediction::Epsilon => {
                        let x0 = ((sample - (output * (1.0 - now).sqrt())?)? / now.sqrt())?;
                        (x0, output.clone())
                    }
                    Prediction::Velocity => {
                        let x0 = ((sample * now.sqrt())? - (output * (1.0 - now).sqrt())?)?;
                        let eps = ((output * now.sqrt())? + (sample * (1.0 - now).sqrt())?)?;
                        (x0, eps)
                    }
                };
                (x0 * prev.sqrt())? + (eps * (1.0 - prev).sqrt())?
            }
            Sampler::Euler | Sampler::EulerAncestral => {
                let sigma = self.sigmas[index];
                let next = self.sigmas[index + 1];
                let x0 = match self.prediction {
                    Prediction::Epsilon => (sample - (output * sigma)?)?,
                    Prediction::Velocity => {
                        let c_out = -sigma / (sigma * sigma + 1.0).sqrt();
                        ((output * c_out)? + (sample / (sigma * sigma + 1.0))?)?
                    }
                };
                let derivative = ((sample - &x0)? / sigma)?;
                if self.sampler == Sampler::Euler {
                    return sample + (derivative * (next - sigma))?;
                }
                let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).sqrt();
                let down = (next * next - up * up).max(0.0).sqrt();
                let moved = (sample + (derivative * (down - sigma))?)?;
                if up == 0.0 {
                    return Ok(moved);
                }
                let fresh = noise.tensor(sample.shape(), sample.dtype(), sample.device())?;
                moved + (fresh * up)?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(class: &str, spacing: &str) -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({
            "_class_name": class,
            "timestep_spacing": spacing,
            "steps_offset": 1,
        }))
        .unwrap()
    }

    #[test]
    fn timesteps_follow_diffusers_spacing() {
        let s = Schedule::new(&config("EulerDiscreteScheduler", "trailing"), 4).unwrap();
        assert_eq!(s.timesteps(), &[999.0, 749.0, 499.0, 249.0]);
        let s = Schedule::new(&config("DDIMScheduler", "leading"), 4).unwrap();
        assert_eq!(s.timesteps(), &[751.0, 501.0, 251.0, 1.0]);
        let s = Schedule::new(&config("EulerAncestralDiscreteScheduler", "trailing"), 1).unwrap();
        assert_eq!(s.timesteps(), &[999.0]);
        // SD's scaled-linear schedule ends at σ ≈ 14.6.
        assert!(
            (s.init_noise_sigma() - 14.6146).abs() < 1e-3,
            "{}",
            s.init_noise_sigma()
        );
    }

    #[test]
    fn noise_is_standard_normal_and_seeded() {
        let mut a = Noise::new(7);
        let samples: Vec<f32> = (0..20_000).map(|_| a.gaussian()).collect();
        let mean = samples.iter().sum::<f32>() / samples.len() as f32;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / samples.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let mut b = Noise::new(7);
        assert_eq!(b.gaussian(), samples[0]);
        assert_ne!(Noise::new(8).gaussian(), samples[0]);
    }

    #[test]
    fn euler_with_a_perfect_noise_prediction_recovers_the_image() {
        let device = Device::Cpu;
        let s = Schedule::new(&config("EulerDiscreteScheduler", "trailing"), 3).unwrap();
        let original = Tensor::new(&[0.5f32, -0.25, 1.0], &device).unwrap();
        let noise = Tensor::new(&[1.0f32, -2.0, 0.3], &device).unwrap();
        let mut x = s.add_noise(&original, &noise, 0).unwrap();
        for i in 0..3 {
            x = s.step(&noise, i, &x, &mut Noise::new(0)).unwrap();
        }
        let diff: f32 = (x - original)
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-4, "{diff}");
    }
}
