//! User and group names of this machine (through the C library, so NSS
//! sources such as LDAP count too).

use std::ffi::{CStr, CString};

pub fn user_name(uid: u32) -> Option<String> {
    lookup(|buf, out| unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() {
            *out = Some(CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned());
        }
        rc
    })
}

/// The home folder of user `uid`'s passwd entry.
pub fn home_of(uid: u32) -> Option<std::path::PathBuf> {
    lookup(|buf, out| unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() && !pwd.pw_dir.is_null() {
            *out = Some(std::path::PathBuf::from(CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned()));
        }
        rc
    })
}

pub fn group_name(gid: u32) -> Option<String> {
    lookup(|buf, out| unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() {
            *out = Some(CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned());
        }
        rc
    })
}

pub fn uid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    lookup(|buf, out| unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() {
            *out = Some(pwd.pw_uid);
        }
        rc
    })
}

pub fn gid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    lookup(|buf, out| unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result = std::ptr::null_mut();
        let rc = libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() {
            *out = Some(grp.gr_gid);
        }
        rc
    })
}

/// Calls a `get*_r` function with a growing buffer until it fits.
fn lookup<T>(mut f: impl FnMut(&mut Vec<libc::c_char>, &mut Option<T>) -> libc::c_int) -> Option<T> {
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        let mut out = None;
        let rc = f(&mut buf, &mut out);
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return out;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_uid_zero() {
        assert_eq!(super::user_name(0).as_deref(), Some("root"));
        assert_eq!(super::uid_of("root"), Some(0));
        assert_eq!(super::gid_of("root"), Some(0));
    }
}
