//! The weights digest depends on the weights only.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use subnet_models::{
    ByteLm, Corpus, Cpu, digest_tensors, load_weights, named_tensors, record_bytes, weights_digest,
};

use crate::checkpoint::meta_for;
use crate::{TEST_CONFIG, test_model};

/// Nudges element 0 of the parameter at `target` to the next representable float.
struct NudgeOne {
    target: &'static str,
    path: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for NudgeOne {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.path.join(".") != self.target {
            return param;
        }
        param.map(|tensor| {
            let shape = tensor.shape();
            let device = tensor.device();
            let mut values = tensor.into_data().to_vec::<f32>().unwrap();
            values[0] = f32::from_bits(values[0].to_bits() + 1);
            Tensor::from_data(burn::tensor::TensorData::new(values, shape), &device)
        })
    }
}

#[test]
fn identical_weights_share_a_digest_though_record_bytes_differ() {
    let (a, b) = (test_model(21), test_model(21));
    let digest = weights_digest(&a).unwrap();
    assert_eq!(weights_digest(&b).unwrap(), digest);
    let (bytes_a, bytes_b) = (record_bytes(&a).unwrap(), record_bytes(&b).unwrap());
    // burn stores each model's random parameter ids: the files differ, the digest does not.
    assert_ne!(bytes_a, bytes_b);
    let meta = meta_for(TEST_CONFIG, digest);
    let loaded: ByteLm<Cpu> = load_weights(&meta, bytes_b, &Default::default()).unwrap();
    assert_eq!(weights_digest(&loaded).unwrap(), digest);
}

#[test]
fn changing_one_weight_changes_the_digest() {
    let model = test_model(22);
    let digest = weights_digest(&model).unwrap();
    for target in ["head.bias", "blocks.1.attn.key.weight", "token_embedding"] {
        let nudged = model.clone().map(&mut NudgeOne {
            target,
            path: Vec::new(),
        });
        assert_ne!(weights_digest(&nudged).unwrap(), digest, "{target}");
    }
    assert_ne!(weights_digest(&test_model(23)).unwrap(), digest);
}

#[test]
fn digest_covers_names_shapes_and_order() {
    let tensors = named_tensors::<Cpu, _>(&test_model(24)).unwrap();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.contains(&"blocks.0.attn.query.weight"));
    assert!(names.contains(&"blocks.1.mlp.proj.bias"));
    assert!(names.contains(&"final_norm.gamma"));
    let count: usize = tensors.iter().map(|t| t.values.len()).sum();
    assert_eq!(count as u64, TEST_CONFIG.num_params());
    assert_eq!(tensors.len(), 6 + TEST_CONFIG.n_layers * 16);

    let digest = digest_tensors(&tensors);
    let mut renamed = tensors.clone();
    renamed[0].name.push('x');
    assert_ne!(digest_tensors(&renamed), digest);
    let mut reshaped = tensors.clone();
    let head = reshaped
        .iter_mut()
        .find(|t| t.name == "head.weight")
        .unwrap();
    assert_eq!(head.shape, [TEST_CONFIG.d_model, 256]);
    head.shape.reverse();
    assert_ne!(digest_tensors(&reshaped), digest);
    let mut swapped = tensors.clone();
    swapped.swap(0, 1);
    assert_ne!(digest_tensors(&swapped), digest);
}

#[test]
fn golden_digests_pin_encoding_initialisation_and_data() {
    // Changing any of these changes every AINFT: bump the digest context version or the
    // architecture name deliberately if it must change. The data digests were checked
    // independently with Python's `blake3` package.
    assert_eq!(
        weights_digest(&test_model(0)).unwrap().to_hex(),
        "d7030ba5add274d63420103314ca7ce7f5e2daf229acabb4b954f8f3e4eff5d7"
    );
    let corpus = Corpus::jargon().unwrap();
    assert_eq!(
        corpus.train().digest().to_hex(),
        "432043361a51db739d1384c60a6b516e29e91fbd28e4c706935eae3ff6728eca"
    );
    assert_eq!(
        subnet_models::DataDigest::of(corpus.text()).to_hex(),
        "bcc7de4a733f5ae5b8f392447c39a847e0d99448e8b5c245683560f96bf2cffd"
    );
}
