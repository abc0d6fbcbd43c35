//! The machinery behind [`export!`](crate::export). Not a public API.

use std::cell::RefCell;
use std::marker::PhantomData;

pub use crate::__bindings::batou::deploy::types::KindSpec;
use crate::__bindings::batou::deploy::types::{Failure, VerifyResult};
pub use crate::__bindings::exports::batou::deploy::component::Guest;
use crate::__bindings::exports::batou::deploy::component::{
    GuestInstance, Instance as InstanceHandle,
};
pub use crate::component::DynComponent;
use crate::{Component, Error, Kind};

/// What `export!` generates for a module: its kinds, and a constructor
/// that dispatches on the kind's name.
pub trait Module: 'static {
    /// Every kind the module exports.
    fn kinds() -> Vec<Kind>;
    /// Creates a component of `kind`, or `None` if the module has no such
    /// kind.
    fn create(kind: &str, attributes: &str) -> Option<Result<Box<dyn DynComponent>, Error>>;
}

/// `describe`: every kind's spec. Two kinds of one name are a bug.
pub fn describe<M: Module>() -> Vec<KindSpec> {
    let kinds = M::kinds();
    for (i, kind) in kinds.iter().enumerate() {
        if kinds[..i].iter().any(|k| k.name() == kind.name()) {
            panic!("kind `{}` is exported twice by this module", kind.name());
        }
    }
    kinds.into_iter().map(Kind::into_wit).collect()
}

/// The names of the module's kinds, in the order of `kinds()`. `create`
/// keeps them once per instance: a kind's spec holds every attribute's
/// doc, and building the specs to find one by its name cost more than
/// the rest of `create`.
pub fn kind_names<M: Module>() -> Vec<String> {
    M::kinds().iter().map(|k| k.name().to_owned()).collect()
}

/// Deserialises a `T` from its attributes. A value that does not fit is
/// `invalid`, naming the kind and the attribute.
pub fn create<T: Component>(kind: &str, attributes: &str) -> Result<Box<dyn DynComponent>, Error> {
    // Attributes that fit, as nearly all do, need no path kept while
    // reading them; one that does not is read again for the path to name.
    if let Ok(component) = serde_json::from_str::<T>(attributes) {
        return Ok(Box::new(component));
    }
    let de = &mut serde_json::Deserializer::from_str(attributes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(component) => Ok(Box::new(component)),
        Err(e) => {
            let path = e.path().to_string();
            let inner = crate::error::json_message(&e.into_inner());
            let top = path.split(['.', '[']).find(|p| !p.is_empty());
            Err(match top {
                Some(name) => Error::Attribute {
                    name: name.to_owned(),
                    message: if path == name {
                        format!("kind `{kind}`: {inner}")
                    } else {
                        format!("kind `{kind}`, at `{path}`: {inner}")
                    },
                },
                None => Error::Invalid(format!("kind `{kind}`: {inner}")),
            })
        }
    }
}

/// The `instance` resource: one configured component.
pub struct Instance<M> {
    component: RefCell<Box<dyn DynComponent>>,
    module: PhantomData<fn() -> M>,
}

impl<M: Module> GuestInstance for Instance<M> {
    fn create(kind: String, attributes: String) -> Result<InstanceHandle, Failure> {
        match M::create(&kind, &attributes) {
            Some(Ok(component)) => Ok(InstanceHandle::new(Instance::<M> {
                component: RefCell::new(component),
                module: PhantomData,
            })),
            Some(Err(e)) => Err(e.into_wit()),
            None => {
                let names: Vec<String> = M::kinds().iter().map(|k| k.name().to_owned()).collect();
                Err(Failure::Failed(format!(
                    "this module has no kind `{kind}`; it exports: {}",
                    names.join(", ")
                )))
            }
        }
    }

    fn configure(&self) -> Result<(), Failure> {
        self.component
            .borrow_mut()
            .configure()
            .map_err(Error::into_wit)
    }

    fn verify(&self) -> Result<VerifyResult, Failure> {
        match self.component.borrow_mut().verify() {
            Ok(()) => Ok(VerifyResult::UpToDate),
            Err(Error::UpdateNeeded(reason)) => Ok(VerifyResult::UpdateNeeded(reason)),
            Err(e) => Err(e.into_wit()),
        }
    }

    fn update(&self) -> Result<(), Failure> {
        self.component
            .borrow_mut()
            .update()
            .map_err(Error::into_wit)
    }
}

/// Exports the listed [`Component`](crate::Component) types as the kinds
/// of this module. Use it once, at the crate root of a `cdylib`:
///
/// ```ignore
/// batou_sdk::export!(Hello, Goodbye);
/// ```
///
/// It generates `describe` (every type's [`Component::kind`](crate::Component::kind)),
/// `create` (dispatching on the kind's name and deserialising the
/// attributes into the type) and the lifecycle calls.
#[macro_export]
macro_rules! export {
    ($($component:ty),+ $(,)?) => {
        const _: () = {
            struct BatouModule;

            impl $crate::__private::Module for BatouModule {
                fn kinds() -> ::std::vec::Vec<$crate::Kind> {
                    ::std::vec![$(<$component as $crate::Component>::kind()),+]
                }

                // The last `index -= 1` is never read.
                #[allow(unused_assignments)]
                fn create(
                    kind: &str,
                    attributes: &str,
                ) -> ::std::option::Option<::std::result::Result<
                    ::std::boxed::Box<dyn $crate::__private::DynComponent>,
                    $crate::Error,
                >> {
                    static NAMES: ::std::sync::OnceLock<::std::vec::Vec<::std::string::String>> =
                        ::std::sync::OnceLock::new();
                    let names = NAMES.get_or_init($crate::__private::kind_names::<Self>);
                    let mut index = names.iter().position(|name| name == kind)?;
                    $(
                        if index == 0 {
                            return ::std::option::Option::Some(
                                $crate::__private::create::<$component>(kind, attributes),
                            );
                        }
                        index -= 1;
                    )+
                    ::std::option::Option::None
                }
            }

            impl $crate::__private::Guest for BatouModule {
                type Instance = $crate::__private::Instance<BatouModule>;

                fn describe() -> ::std::vec::Vec<$crate::__private::KindSpec> {
                    $crate::__private::describe::<BatouModule>()
                }
            }

            $crate::__bindings::__export_bindings!(BatouModule with_types_in $crate::__bindings);
        };
    };
}
