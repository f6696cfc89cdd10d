"""The user: email is the login, unique regardless of case."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from imagefactory.core.channels import notify_access_changed


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> User:
        return self.get(email__iexact=email)

    def _create(self, email: str, password: str | None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised to revoke every token and session issued before (accounts/tokens.py). Written only
    # by revoke_tokens(), with an UPDATE ... + 1, so a stale save can never lower it.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    _was_active = True  # is_active as loaded: deactivation revokes tokens

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.email.strip().lower()

    @property
    def is_system_admin(self) -> bool:
        return self.is_superuser

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._was_active = user.__dict__.get("is_active", True)
        return user

    def save(self, *args, **kwargs) -> None:
        existing = not self._state.adding and not kwargs.get("force_insert")
        # `_password` is set by set_password() only (a hasher upgrade at login clears it first),
        # so it marks a real password change.
        revoke = existing and (self._password is not None or (self._was_active and not self.is_active))
        if existing and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "token_generation"
            ]
        super().save(*args, **kwargs)
        self._was_active = self.is_active
        if revoke:
            self.revoke_tokens()

    def revoke_tokens(self) -> None:
        """Ends every token and session issued so far, at their next request or stream check."""
        User.objects.filter(pk=self.pk).update(token_generation=F("token_generation") + 1)
        self.refresh_from_db(fields=["token_generation"])
        user_id = self.pk
        transaction.on_commit(lambda: notify_access_changed(user_id))

    def _get_session_auth_hash(self, secret=None) -> str:
        # Django ends sessions whose stored hash no longer matches: with the generation in it,
        # "sign out everywhere" and deactivation end browser sessions too, not only a new password.
        return salted_hmac(
            "imagefactory.accounts.User.session_auth_hash",
            f"{self.password}:{self.token_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()
