//! Plugin parameters the operator sets in the host's configuration
//! (`[plugin.params]`). In a component they come from the `config` import;
//! natively (tests) from [`crate::testing::set_config`].

/// The value of parameter `key`, if the operator set one.
#[cfg(target_arch = "wasm32")]
pub fn get(key: &str) -> Option<String> {
    crate::wasm::config_get(key)
}

/// The value of parameter `key`, if the test set one.
#[cfg(not(target_arch = "wasm32"))]
pub fn get(key: &str) -> Option<String> {
    native::PARAMS.with(|p| p.borrow().get(key).cloned())
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;
    use std::collections::HashMap;

    thread_local! {
        pub(crate) static PARAMS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    }
}
