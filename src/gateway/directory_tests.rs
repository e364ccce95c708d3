//! Unit tests of the shared directory: Application Client registrations (IDs, secrets, moves,
//! capacity, idle expiry), client routes and report routes.

use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn app_registration_allocates_unique_ids_and_indexes_them() {
    let d = Directory::new(10, 10, 100, Rng::new(7));
    let a = d
        .register_app(Instant::now(), "app-a", addr(1), 0, None, None)
        .unwrap();
    let b = d
        .register_app(Instant::now(), "app-b", addr(2), 1, None, None)
        .unwrap();
    assert_ne!(a.registration_id, b.registration_id);
    assert_ne!(a.secret, b.secret);
    assert_eq!(d.app_by_application("app-b").unwrap().shard, 1);
    assert_eq!(d.app(a.registration_id).unwrap().peer, addr(1));
    assert_eq!(d.app_count(), 2);
    // Same app, same address: same registration (lost answer, retry).
    assert_eq!(
        d.register_app(Instant::now(), "app-a", addr(1), 0, None, None)
            .unwrap(),
        a
    );
    // Same app from another address: refused while held.
    assert_eq!(
        d.register_app(Instant::now(), "app-a", addr(3), 0, None, None),
        Err(AppRegistrationError::InUse)
    );
}

#[test]
fn registration_ids_are_not_sequential() {
    let d = Directory::new(1000, 10, 100, Rng::new(3));
    let ids: Vec<u32> = (0..200)
        .map(|i| {
            d.register_app(Instant::now(), &format!("app-{i}"), addr(1), 0, None, None)
                .unwrap()
                .registration_id
        })
        .collect();
    let unique: std::collections::HashSet<u32> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len());
    assert!(ids.iter().all(|id| *id != 0));
    // One's own ID tells nothing of the next: no ID follows its predecessor within ±1000.
    let near = ids
        .windows(2)
        .filter(|w| w[1].abs_diff(w[0]) <= 1000)
        .count();
    assert_eq!(near, 0, "{ids:?}");
    // Different gateways (seeds) draw different IDs.
    let other = Directory::new(10, 10, 100, Rng::new(4));
    let first = other
        .register_app(Instant::now(), "app-0", addr(1), 0, None, None)
        .unwrap();
    assert_ne!(first.registration_id, ids[0]);
}

#[test]
fn debug_output_leaves_the_secret_out() {
    let d = Directory::new(10, 10, 100, Rng::new(5));
    let a = d
        .register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    let text = format!("{a:?} {d:?}");
    assert!(!text.contains(&a.secret.to_string()), "{text}");
    assert!(!text.contains(&format!("{:x}", a.secret)), "{text}");
}

#[test]
fn a_move_without_the_secret_is_refused() {
    let d = Directory::new(10, 10, 100, Rng::new(1));
    let a = d
        .register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    // The Registration ID alone (the old rule) no longer moves it.
    assert_eq!(
        d.register_app(
            Instant::now(),
            "a",
            addr(2),
            1,
            Some(a.registration_id),
            None
        ),
        Err(AppRegistrationError::BadSecret)
    );
    assert_eq!(
        d.register_app(
            Instant::now(),
            "a",
            addr(2),
            1,
            Some(a.registration_id),
            Some(a.secret ^ 1)
        ),
        Err(AppRegistrationError::BadSecret)
    );
    // The secret with another ID: the ID is checked first.
    assert_eq!(
        d.register_app(
            Instant::now(),
            "a",
            addr(2),
            1,
            Some(a.registration_id ^ 1),
            Some(a.secret)
        ),
        Err(AppRegistrationError::InUse)
    );
    assert_eq!(d.app_by_application("a"), Some(a));
}

#[test]
fn a_registration_moves_with_its_registration_id_and_secret() {
    let d = Directory::new(10, 10, 100, Rng::new(1));
    let a = d
        .register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    // Another address without (or with a wrong) Registration ID: refused.
    assert_eq!(
        d.register_app(Instant::now(), "a", addr(2), 1, None, None),
        Err(AppRegistrationError::InUse)
    );
    assert_eq!(
        d.register_app(
            Instant::now(),
            "a",
            addr(2),
            1,
            Some(a.registration_id + 1),
            None
        ),
        Err(AppRegistrationError::InUse)
    );
    // With both: moved, same ID, new address and shard; the old address owns nothing.
    let moved = d
        .register_app(
            Instant::now(),
            "a",
            addr(2),
            1,
            Some(a.registration_id),
            Some(a.secret),
        )
        .unwrap();
    assert_eq!(moved.registration_id, a.registration_id);
    assert_eq!(moved.secret, a.secret);
    assert_eq!((moved.peer, moved.shard), (addr(2), 1));
    assert_eq!(d.app_by_application("a"), Some(moved.clone()));
    assert_eq!(d.app_for_sender(Instant::now(), addr(1), None), Ok(None));
    assert_eq!(
        d.app_for_sender(Instant::now(), addr(2), None),
        Ok(Some(moved))
    );
    assert_eq!(
        d.deregister_app(a.registration_id, addr(1)),
        Err(AppDeregistrationError::NotOwner)
    );
}

#[test]
fn capacity_limit_refuses_new_registrations() {
    let d = Directory::new(1, 10, 100, Rng::new(1));
    d.register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    assert_eq!(
        d.register_app(Instant::now(), "b", addr(2), 0, None, None),
        Err(AppRegistrationError::Full)
    );
}

#[test]
fn deregistration_checks_the_owner() {
    let d = Directory::new(10, 10, 100, Rng::new(1));
    let a = d
        .register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    assert_eq!(
        d.deregister_app(a.registration_id, addr(9)),
        Err(AppDeregistrationError::NotOwner)
    );
    assert!(d.app(a.registration_id).is_some());
    assert_eq!(
        d.deregister_app(999, addr(1)),
        Err(AppDeregistrationError::Unknown)
    );
    assert_eq!(d.deregister_app(a.registration_id, addr(1)), Ok(a.clone()));
    assert!(d.app_by_application("a").is_none());
    assert_eq!(d.app_for_sender(Instant::now(), addr(1), None), Ok(None));
    // The Application ID is free again.
    assert!(d
        .register_app(Instant::now(), "a", addr(5), 0, None, None)
        .is_ok());
}

#[test]
fn sender_lookup_by_address_or_registration_id() {
    let d = Directory::new(10, 10, 100, Rng::new(1));
    let a = d
        .register_app(Instant::now(), "a", addr(1), 0, None, None)
        .unwrap();
    let b = d
        .register_app(Instant::now(), "b", addr(1), 0, None, None)
        .unwrap();
    assert_eq!(
        d.app_for_sender(Instant::now(), addr(1), None),
        Ok(Some(a.clone()))
    );
    assert_eq!(
        d.app_for_sender(Instant::now(), addr(1), Some(b.registration_id)),
        Ok(Some(b.clone()))
    );
    assert_eq!(
        d.app_for_sender(Instant::now(), addr(2), Some(b.registration_id)),
        Err(AppDeregistrationError::NotOwner)
    );
    assert_eq!(d.app_for_sender(Instant::now(), addr(2), None), Ok(None));
}

#[test]
fn clients_move_and_are_bounded() {
    let d = Directory::new(1, STRIPES, 100, Rng::new(1));
    assert!(d.set_client("ue-1", addr(1), 0));
    assert!(d.set_client("ue-1", addr(2), 1));
    assert_eq!(
        d.client("ue-1"),
        Some(ClientRoute {
            peer: addr(2),
            shard: 1
        })
    );
    d.remove_client("ue-1");
    assert_eq!(d.client("ue-1"), None);
    // At most max_clients / STRIPES per stripe: far fewer than 10 * STRIPES fit.
    let accepted = (0..10 * STRIPES)
        .filter(|i| d.set_client(&format!("u{i}"), addr(1), 0))
        .count();
    assert!(accepted < 10 * STRIPES);
    assert_eq!(d.client_count(), accepted);
}

#[test]
fn client_routes_round_trip_v4_v6_and_long_ids() {
    let d = Directory::new(1, 100, 100, Rng::new(1));
    let v6: SocketAddr = "[fe80::1%7]:5683".parse().unwrap();
    let long = "urn:msgin5g:ue:a-rather-long-ue-service-id-beyond-inline-size";
    assert!(d.set_client("v4", addr(9), 3));
    assert!(d.set_client(long, v6, 1));
    assert_eq!(
        d.client("v4"),
        Some(ClientRoute {
            peer: addr(9),
            shard: 3
        })
    );
    assert_eq!(d.client(long), Some(ClientRoute { peer: v6, shard: 1 }));
    assert_eq!(std::mem::size_of::<StoredRoute>(), 24);
}

#[test]
fn report_routes_evict_the_oldest() {
    let d = Directory::new(1, 1, STRIPES, Rng::new(1));
    let route = ReportRoute {
        registration_id: 3,
        shard: 1,
    };
    for i in 0..100 {
        d.set_report_route(&format!("m{i}"), route);
    }
    // One per stripe at most; the newest survives in its stripe.
    assert_eq!(d.report_route("m99"), Some(route));
    assert!(
        (0..100)
            .filter(|i| d.report_route(&format!("m{i}")).is_some())
            .count()
            <= STRIPES
    );
}

#[test]
fn idle_registrations_expire_and_active_ones_stay() {
    let idle = Duration::from_secs(100);
    let d = Directory::new(10, 10, 10, Rng::new(3)).with_app_idle_expiry(Some(idle));
    let t0 = Instant::now();
    let a = d.register_app(t0, "a", addr(1), 0, None, None).unwrap();
    let b = d.register_app(t0, "b", addr(2), 0, None, None).unwrap();
    let c = d.register_app(t0, "c", addr(3), 0, None, None).unwrap();
    // `a` sends, `c` answers a delivery; `b` is silent.
    let t1 = t0 + Duration::from_secs(60);
    assert!(d.app_for_sender(t1, addr(1), None).unwrap().is_some());
    d.touch_peer(addr(3), t1);
    assert!(d.expire_idle_apps(t0 + Duration::from_secs(99)).is_empty());
    let gone = d.expire_idle_apps(t0 + Duration::from_secs(100));
    assert_eq!(gone, vec![b.clone()]);
    assert_eq!(d.app(b.registration_id), None);
    assert_eq!(d.app_by_application("b"), None);
    assert_eq!(d.app_for_sender(t1, addr(2), None), Ok(None));
    assert_eq!(d.app_count(), 2);
    let gone = d.expire_idle_apps(t1 + idle);
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert!(d.app(a.registration_id).is_none() && d.app(c.registration_id).is_none());
}

#[test]
fn an_idle_application_id_can_be_taken_from_another_address() {
    let idle = Duration::from_secs(100);
    let d = Directory::new(10, 10, 10, Rng::new(3)).with_app_idle_expiry(Some(idle));
    let t0 = Instant::now();
    let a = d.register_app(t0, "a", addr(1), 0, None, None).unwrap();
    let early = t0 + Duration::from_secs(50);
    assert_eq!(
        d.register_app(early, "a", addr(2), 0, None, None),
        Err(AppRegistrationError::InUse)
    );
    assert!(d.take_reclaimed().is_empty());
    let late = t0 + idle;
    let new = d.register_app(late, "a", addr(2), 1, None, None).unwrap();
    assert_ne!(new.registration_id, a.registration_id);
    assert_ne!(new.secret, a.secret);
    assert_eq!(new.peer, addr(2));
    assert_eq!(d.take_reclaimed(), vec![a.clone()]);
    assert!(d.take_reclaimed().is_empty());
    assert_eq!(d.app(a.registration_id), None);
    assert_eq!(d.app_for_sender(late, addr(1), None), Ok(None));
    // The new holder is active from `late`.
    assert!(d
        .expire_idle_apps(late + Duration::from_secs(99))
        .is_empty());
}

#[test]
fn without_expiry_nothing_expires_and_restored_ones_count_from_the_restart() {
    let d = Directory::new(10, 10, 10, Rng::new(3));
    let t0 = Instant::now();
    d.register_app(t0, "a", addr(1), 0, None, None).unwrap();
    let far = t0 + Duration::from_secs(1 << 30);
    assert!(d.expire_idle_apps(far).is_empty());
    assert_eq!(
        d.register_app(far, "a", addr(2), 0, None, None),
        Err(AppRegistrationError::InUse)
    );

    let idle = Duration::from_secs(100);
    let restored = Directory::new(10, 10, 10, Rng::new(4)).with_app_idle_expiry(Some(idle));
    let reg = AppRegistration {
        registration_id: 77,
        application_id: Arc::from("r"),
        peer: addr(7),
        shard: 0,
        secret: 5,
    };
    assert!(restored.restore_app(reg.clone()));
    // The first instant the restored directory hears of is the restart.
    let start = t0 + Duration::from_secs(1000);
    assert!(restored.expire_idle_apps(start).is_empty());
    restored.touch_peer(addr(7), start + Duration::from_secs(90));
    assert!(restored
        .expire_idle_apps(start + Duration::from_secs(150))
        .is_empty());
    assert_eq!(
        restored.expire_idle_apps(start + Duration::from_secs(190)),
        vec![reg]
    );
}
