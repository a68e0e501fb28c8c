import { IsEmail, IsNotEmpty, IsString, MaxLength, MinLength } from 'class-validator';

/**
 * Registration: the password policy lives here and only here. A login never applies it (a
 * wrong password of any length is a 401, and an account made under an older, looser policy can
 * still log in), so raising the policy later locks no one out.
 */
export class RegistrationDto {
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email: string;

  // 128 is more than a password manager generates; scrypt's cost does not depend on it.
  @IsString()
  @MinLength(8, { message: 'password must be at least 8 characters' })
  @MaxLength(128, { message: 'password must be at most 128 characters' })
  password: string;
}

/**
 * A login: two non-empty strings, nothing more. Whether they are right is the 401's business,
 * whatever their length or shape; a body that is not two strings is a malformed request (400).
 * The body parser's own limit (100 kB) bounds them; scrypt hashes a long password once, so its
 * length buys no extra work.
 */
export class LoginDto {
  @IsString({ message: 'email must be a string' })
  @IsNotEmpty({ message: 'email should not be empty' })
  email: string;

  @IsString({ message: 'password must be a string' })
  @IsNotEmpty({ message: 'password should not be empty' })
  password: string;
}
